//! Seccomp profiles as JSON: the OCI `linux.seccomp` object and Docker's
//! profile format (`--security-opt seccomp=FILE`, moby's
//! `profiles/seccomp/default.json`), which adds `archMap`, the legacy `name`,
//! `comment`, and `includes`/`excludes` conditions on capabilities,
//! architectures and kernel versions.
//!
//! Parsing here gives errors that name the field
//! (`linux.seccomp.syscalls[3].args[0].op: unknown operator "SCMP_CMP_FOO"`),
//! where decoding straight into oci-spec types would only say "unknown variant".

use std::path::PathBuf;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::names;

/// A profile in Docker's format: the OCI fields plus the conditions that make
/// one file serve every capability set, architecture and kernel.
/// [`DockerProfile::resolve`] turns it into the OCI profile for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerProfile {
    /// `defaultAction`
    pub default_action: LinuxSeccompAction,
    /// `defaultErrnoRet`
    pub default_errno_ret: Option<u32>,
    /// `architectures` (exclusive with `archMap`)
    pub architectures: Vec<Arch>,
    /// `archMap`: the architectures to add when running on `architecture`
    pub arch_map: Vec<ArchMapEntry>,
    /// `syscalls`
    pub syscalls: Vec<DockerSyscall>,
    /// `flags`
    pub flags: Vec<LinuxSeccompFilterFlag>,
    /// `listenerPath`
    pub listener_path: Option<PathBuf>,
    /// `listenerMetadata`
    pub listener_metadata: Option<String>,
}

/// One entry of `archMap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchMapEntry {
    /// `architecture`: the native architecture this entry applies to
    pub architecture: Arch,
    /// `subArchitectures`: the other ABIs a process may use there
    pub sub_architectures: Vec<Arch>,
}

/// One entry of `syscalls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerSyscall {
    /// `names` (or the legacy single `name`)
    pub names: Vec<String>,
    /// `action`
    pub action: LinuxSeccompAction,
    /// `errnoRet`
    pub errno_ret: Option<u32>,
    /// `args`
    pub args: Vec<LinuxSeccompArg>,
    /// `comment`
    pub comment: Option<String>,
    /// `includes`: the rule applies only when all of these hold
    pub includes: Conditions,
    /// `excludes`: the rule does not apply when any of these holds
    pub excludes: Conditions,
}

/// The conditions of `includes` and `excludes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// `caps`: capability names (`CAP_SYS_ADMIN`)
    pub caps: Vec<String>,
    /// `arches`: Go architecture names as Docker spells them (`amd64`, `arm64`, `x32`, ...)
    pub arches: Vec<String>,
    /// `minKernel`
    pub min_kernel: Option<KernelVersion>,
}

impl Conditions {
    fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.arches.is_empty() && self.min_kernel.is_none()
    }
}

/// A kernel release, compared as `major.minor.patch`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    /// first number
    pub major: u32,
    /// second number
    pub minor: u32,
    /// third number, 0 when absent
    pub patch: u32,
}

impl KernelVersion {
    /// Parses `4.8`, `5.10.0` or a uname release such as `6.1.0-18-amd64`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut numbers = s.split(['.', '-', '+', '_']).map_while(|p| p.parse::<u32>().ok());
        let major = numbers.next()?;
        let minor = numbers.next()?;
        let patch = numbers.next().unwrap_or(0);
        Some(KernelVersion { major, minor, patch })
    }

    /// The running kernel's version, from uname(2).
    pub fn running() -> Option<Self> {
        let uts = nix::sys::utsname::uname().ok()?;
        KernelVersion::parse(uts.release().to_str()?)
    }
}

impl std::fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.patch == 0 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

/// The native architecture, as a seccomp architecture (`SCMP_ARCH_X86_64`).
pub fn native_arch() -> Arch {
    if cfg!(target_arch = "x86_64") {
        Arch::ScmpArchX86_64
    } else if cfg!(target_arch = "x86") {
        Arch::ScmpArchX86
    } else if cfg!(target_arch = "aarch64") {
        Arch::ScmpArchAarch64
    } else if cfg!(target_arch = "arm") {
        Arch::ScmpArchArm
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        Arch::ScmpArchPpc64le
    } else if cfg!(target_arch = "powerpc64") {
        Arch::ScmpArchPpc64
    } else if cfg!(target_arch = "powerpc") {
        Arch::ScmpArchPpc
    } else if cfg!(target_arch = "s390x") {
        Arch::ScmpArchS390x
    } else if cfg!(target_arch = "riscv64") {
        Arch::ScmpArchRiscv64
    } else if cfg!(target_arch = "loongarch64") {
        Arch::ScmpArchLoongarch64
    } else if cfg!(all(target_arch = "mips64", target_endian = "little")) {
        Arch::ScmpArchMipsel64
    } else if cfg!(target_arch = "mips64") {
        Arch::ScmpArchMips64
    } else if cfg!(all(target_arch = "mips", target_endian = "little")) {
        Arch::ScmpArchMipsel
    } else if cfg!(target_arch = "mips") {
        Arch::ScmpArchMips
    } else {
        Arch::ScmpArchNative
    }
}

/// The name Docker's `includes.arches`/`excludes.arches` use for `arch`.
pub fn docker_arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::ScmpArchX86 => "x86",
        Arch::ScmpArchX86_64 => "amd64",
        Arch::ScmpArchX32 => "x32",
        Arch::ScmpArchArm => "arm",
        Arch::ScmpArchAarch64 => "arm64",
        Arch::ScmpArchMips => "mips",
        Arch::ScmpArchMips64 => "mips64",
        Arch::ScmpArchMips64n32 => "mips64n32",
        Arch::ScmpArchMipsel => "mipsel",
        Arch::ScmpArchMipsel64 => "mipsel64",
        Arch::ScmpArchMipsel64n32 => "mipsel64n32",
        Arch::ScmpArchPpc => "ppc",
        Arch::ScmpArchPpc64 => "ppc64",
        Arch::ScmpArchPpc64le => "ppc64le",
        Arch::ScmpArchS390 => "s390",
        Arch::ScmpArchS390x => "s390x",
        Arch::ScmpArchParisc => "parisc",
        Arch::ScmpArchParisc64 => "parisc64",
        Arch::ScmpArchRiscv64 => "riscv64",
        Arch::ScmpArchLoongarch64 => "loong64",
        Arch::ScmpArchM68k => "m68k",
        Arch::ScmpArchSh => "sh",
        Arch::ScmpArchSheb => "sheb",
        Arch::ScmpArchNative => "native",
    }
}

/// `CAP_SYS_ADMIN`, `cap_sys_admin` and `SYS_ADMIN` all name one capability.
fn normalize_cap(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") }
}

impl DockerProfile {
    /// Parses a profile in Docker's JSON format (an OCI `linux.seccomp` object
    /// is one too). Errors name the field, from the top of the file.
    pub fn from_json(json: &[u8]) -> Result<Self, Error> {
        let mut de = serde_json::Deserializer::from_slice(json);
        let wire: WireProfile = serde_path_to_error::deserialize(&mut de).map_err(json_error(""))?;
        de.end().map_err(|source| Error::Json { field: "(end of input)".into(), source })?;
        wire.into_docker("")
    }

    /// The profile in Docker's JSON format, two-space indented.
    pub fn to_json(&self) -> String {
        let wire = WireProfile::from_docker(self);
        let mut out = serde_json::to_string_pretty(&wire).unwrap_or_default();
        out.push('\n');
        out
    }

    /// The OCI profile for a container with `capabilities` (its bounding set)
    /// on this machine's architecture and kernel.
    pub fn resolve(&self, capabilities: &[String]) -> LinuxSeccomp {
        self.resolve_for(capabilities, native_arch(), KernelVersion::running())
    }

    /// The OCI profile for a container with `capabilities` on `arch` (its
    /// native architecture) and `kernel` (unknown: rules that need a minimum
    /// kernel are left out, rules excluded from a minimum kernel are kept).
    ///
    /// Follows moby's rules: `archMap` adds the entry for `arch` and its
    /// sub-architectures; a syscall entry is dropped when `excludes.arches`
    /// names `arch`, any of `excludes.caps` is held, or the kernel is at least
    /// `excludes.minKernel`; and kept only if `includes.arches` (when set)
    /// names `arch`, all of `includes.caps` are held, and the kernel is at
    /// least `includes.minKernel`.
    pub fn resolve_for(&self, capabilities: &[String], arch: Arch, kernel: Option<KernelVersion>) -> LinuxSeccomp {
        let held: Vec<String> = capabilities.iter().map(|c| normalize_cap(c)).collect();
        let holds = |cap: &String| held.contains(&normalize_cap(cap));
        let arch_name = docker_arch_name(arch);

        let mut architectures = self.architectures.clone();
        if let Some(entry) = self.arch_map.iter().find(|e| e.architecture == arch) {
            architectures.push(entry.architecture);
            architectures.extend(entry.sub_architectures.iter().copied());
        }

        let applies = |s: &DockerSyscall| {
            let ex = &s.excludes;
            if ex.arches.iter().any(|a| a == arch_name) || ex.caps.iter().any(holds) {
                return false;
            }
            if let (Some(min), Some(k)) = (ex.min_kernel, kernel)
                && k >= min
            {
                return false;
            }
            let inc = &s.includes;
            if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == arch_name) {
                return false;
            }
            if !inc.caps.iter().all(holds) {
                return false;
            }
            match (inc.min_kernel, kernel) {
                (Some(min), Some(k)) => k >= min,
                (Some(_), None) => false,
                (None, _) => true,
            }
        };

        let syscalls: Vec<LinuxSyscall> = self
            .syscalls
            .iter()
            .filter(|s| applies(s))
            .map(|s| {
                let mut out = LinuxSyscall::default();
                out.set_names(s.names.clone());
                out.set_action(s.action);
                out.set_errno_ret(s.errno_ret);
                out.set_args(if s.args.is_empty() { None } else { Some(s.args.clone()) });
                out
            })
            .collect();

        let mut profile = LinuxSeccomp::default();
        profile.set_default_action(self.default_action);
        profile.set_default_errno_ret(self.default_errno_ret);
        profile.set_architectures(if architectures.is_empty() { None } else { Some(architectures) });
        profile.set_flags(if self.flags.is_empty() { None } else { Some(self.flags.clone()) });
        profile.set_listener_path(self.listener_path.clone());
        profile.set_listener_metadata(self.listener_metadata.clone());
        profile.set_syscalls(if syscalls.is_empty() { None } else { Some(syscalls) });
        profile
    }
}

/// Parses the OCI `linux.seccomp` object of a config.json with errors that name
/// the field from `linux.seccomp` down. Unknown properties are ignored, as the
/// runtime spec requires.
pub fn parse_oci_profile(value: &serde_json::Value) -> Result<LinuxSeccomp, Error> {
    const ROOT: &str = "linux.seccomp";
    let wire: WireProfile = serde_path_to_error::deserialize(value).map_err(json_error(ROOT))?;
    wire.into_oci(ROOT)
}

fn json_error(root: &'static str) -> impl Fn(serde_path_to_error::Error<serde_json::Error>) -> Error {
    move |e| {
        let path = e.path().to_string();
        let field = match (root.is_empty(), path.as_str()) {
            (true, ".") => "(top level)".to_string(),
            (true, _) => path,
            (false, ".") => root.to_string(),
            (false, _) => format!("{root}.{path}"),
        };
        Error::Json { field, source: e.into_inner() }
    }
}

fn join(root: &str, field: &str) -> String {
    if root.is_empty() { field.to_string() } else { format!("{root}.{field}") }
}

// ---------------------------------------------------------------------------
// The JSON shape, with names as strings so that validation can say which
// field holds an unknown one.

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    architectures: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    arch_map: Option<Vec<WireArchMap>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    syscalls: Option<Vec<WireSyscall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    flags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    listener_path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    listener_metadata: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireSyscall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    names: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    args: Option<Vec<WireArg>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    includes: Option<WireConditions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    excludes: Option<WireConditions>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireArg {
    index: usize,
    value: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value_two: Option<u64>,
    op: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireConditions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    caps: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    arches: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_kernel: Option<String>,
}

/// The fields both formats share, validated.
struct Common {
    default_action: LinuxSeccompAction,
    architectures: Vec<Arch>,
    flags: Vec<LinuxSeccompFilterFlag>,
}

impl WireProfile {
    fn common(&self, root: &str) -> Result<Common, Error> {
        let default_action = match &self.default_action {
            Some(name) => action(name, &join(root, "defaultAction"))?,
            None => return Err(Error::invalid(join(root, "defaultAction"), "missing")),
        };
        let architectures = self
            .architectures
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, a)| arch(a, &join(root, &format!("architectures[{i}]"))))
            .collect::<Result<_, _>>()?;
        let flags = self
            .flags
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, f)| {
                names::parse_flag(f)
                    .ok_or_else(|| Error::invalid(join(root, &format!("flags[{i}]")), format!("unknown flag {f:?}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Common { default_action, architectures, flags })
    }

    fn into_oci(self, root: &str) -> Result<LinuxSeccomp, Error> {
        let common = self.common(root)?;
        let mut syscalls = Vec::new();
        for (i, s) in self.syscalls.into_iter().flatten().enumerate() {
            let field = join(root, &format!("syscalls[{i}]"));
            let Some(names) = s.names else {
                return Err(Error::invalid(format!("{field}.names"), "missing"));
            };
            let mut out = LinuxSyscall::default();
            out.set_names(names);
            out.set_action(syscall_action(s.action.as_deref(), &field)?);
            out.set_errno_ret(s.errno_ret);
            let args = args(s.args.unwrap_or_default(), &field)?;
            out.set_args(if args.is_empty() { None } else { Some(args) });
            syscalls.push(out);
        }
        let mut profile = LinuxSeccomp::default();
        profile.set_default_action(common.default_action);
        profile.set_default_errno_ret(self.default_errno_ret);
        profile.set_architectures(if common.architectures.is_empty() { None } else { Some(common.architectures) });
        profile.set_flags(if common.flags.is_empty() { None } else { Some(common.flags) });
        profile.set_listener_path(self.listener_path);
        profile.set_listener_metadata(self.listener_metadata);
        profile.set_syscalls(if syscalls.is_empty() { None } else { Some(syscalls) });
        Ok(profile)
    }

    fn into_docker(self, root: &str) -> Result<DockerProfile, Error> {
        let common = self.common(root)?;
        let arch_map: Vec<ArchMapEntry> = self
            .arch_map
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, e)| {
                let field = join(root, &format!("archMap[{i}]"));
                Ok(ArchMapEntry {
                    architecture: arch(&e.architecture, &format!("{field}.architecture"))?,
                    sub_architectures: e
                        .sub_architectures
                        .iter()
                        .flatten()
                        .enumerate()
                        .map(|(j, a)| arch(a, &format!("{field}.subArchitectures[{j}]")))
                        .collect::<Result<_, _>>()?,
                })
            })
            .collect::<Result<_, Error>>()?;
        if !common.architectures.is_empty() && !arch_map.is_empty() {
            return Err(Error::invalid(
                join(root, "archMap"),
                "'architectures' and 'archMap' were both specified, use either one",
            ));
        }
        let mut syscalls = Vec::new();
        for (i, s) in self.syscalls.into_iter().flatten().enumerate() {
            let field = join(root, &format!("syscalls[{i}]"));
            let names = match (s.name, s.names) {
                (Some(_), Some(_)) => {
                    return Err(Error::invalid(field, "'name' and 'names' were both specified, use either one"));
                }
                (Some(name), None) => vec![name],
                (None, Some(names)) => names,
                (None, None) => return Err(Error::invalid(format!("{field}.names"), "missing")),
            };
            syscalls.push(DockerSyscall {
                names,
                action: syscall_action(s.action.as_deref(), &field)?,
                errno_ret: s.errno_ret,
                args: args(s.args.unwrap_or_default(), &field)?,
                comment: s.comment,
                includes: conditions(s.includes, &format!("{field}.includes"))?,
                excludes: conditions(s.excludes, &format!("{field}.excludes"))?,
            });
        }
        Ok(DockerProfile {
            default_action: common.default_action,
            default_errno_ret: self.default_errno_ret,
            architectures: common.architectures,
            arch_map,
            syscalls,
            flags: common.flags,
            listener_path: self.listener_path,
            listener_metadata: self.listener_metadata,
        })
    }

    fn from_docker(p: &DockerProfile) -> Self {
        let strings = |v: &[Arch]| v.iter().map(|a| names::arch_name(*a).to_string()).collect::<Vec<_>>();
        let non_empty = |v: Vec<String>| if v.is_empty() { None } else { Some(v) };
        let wire_conditions = |c: &Conditions| {
            if c.is_empty() {
                None
            } else {
                Some(WireConditions {
                    caps: non_empty(c.caps.clone()),
                    arches: non_empty(c.arches.clone()),
                    min_kernel: c.min_kernel.map(|k| k.to_string()),
                })
            }
        };
        WireProfile {
            default_action: Some(names::action_name(p.default_action).to_string()),
            default_errno_ret: p.default_errno_ret,
            architectures: non_empty(strings(&p.architectures)),
            arch_map: if p.arch_map.is_empty() {
                None
            } else {
                Some(
                    p.arch_map
                        .iter()
                        .map(|e| WireArchMap {
                            architecture: names::arch_name(e.architecture).to_string(),
                            sub_architectures: non_empty(strings(&e.sub_architectures)),
                        })
                        .collect(),
                )
            },
            syscalls: Some(
                p.syscalls
                    .iter()
                    .map(|s| WireSyscall {
                        name: None,
                        names: Some(s.names.clone()),
                        action: Some(names::action_name(s.action).to_string()),
                        errno_ret: s.errno_ret,
                        args: if s.args.is_empty() {
                            None
                        } else {
                            Some(
                                s.args
                                    .iter()
                                    .map(|a| WireArg {
                                        index: a.index(),
                                        value: a.value(),
                                        value_two: a.value_two(),
                                        op: names::operator_name(a.op()).to_string(),
                                    })
                                    .collect(),
                            )
                        },
                        comment: s.comment.clone(),
                        includes: wire_conditions(&s.includes),
                        excludes: wire_conditions(&s.excludes),
                    })
                    .collect(),
            ),
            flags: non_empty(p.flags.iter().map(|f| names::flag_name(*f).to_string()).collect()),
            listener_path: p.listener_path.clone(),
            listener_metadata: p.listener_metadata.clone(),
        }
    }
}

fn action(name: &str, field: &str) -> Result<LinuxSeccompAction, Error> {
    names::parse_action(name).ok_or_else(|| Error::invalid(field, format!("unknown action {name:?}")))
}

fn syscall_action(name: Option<&str>, field: &str) -> Result<LinuxSeccompAction, Error> {
    match name {
        Some(name) => action(name, &format!("{field}.action")),
        None => Err(Error::invalid(format!("{field}.action"), "missing")),
    }
}

fn arch(name: &str, field: &str) -> Result<Arch, Error> {
    names::parse_arch(name).ok_or_else(|| Error::invalid(field, format!("unknown architecture {name:?}")))
}

fn args(wire: Vec<WireArg>, field: &str) -> Result<Vec<LinuxSeccompArg>, Error> {
    wire.into_iter()
        .enumerate()
        .map(|(j, a)| {
            let op: LinuxSeccompOperator = names::parse_operator(&a.op).ok_or_else(|| {
                Error::invalid(format!("{field}.args[{j}].op"), format!("unknown operator {:?}", a.op))
            })?;
            Ok(names::seccomp_arg(a.index, a.value, a.value_two, op))
        })
        .collect()
}

fn conditions(wire: Option<WireConditions>, field: &str) -> Result<Conditions, Error> {
    let Some(w) = wire else { return Ok(Conditions::default()) };
    let min_kernel = match w.min_kernel.as_deref() {
        None | Some("") => None,
        Some(v) => Some(KernelVersion::parse(v).ok_or_else(|| {
            Error::invalid(format!("{field}.minKernel"), format!("{v:?} is not a kernel version such as \"4.8\""))
        })?),
    };
    Ok(Conditions { caps: w.caps.unwrap_or_default(), arches: w.arches.unwrap_or_default(), min_kernel })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn oci_err(v: serde_json::Value) -> String {
        parse_oci_profile(&v).expect_err("must be rejected").to_string()
    }

    #[test]
    fn unknown_operator_names_the_field() {
        let v = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["a"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["b"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["c"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["d"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}
            ]
        });
        assert_eq!(oci_err(v), r#"linux.seccomp.syscalls[3].args[0].op: unknown operator "SCMP_CMP_FOO""#);
    }

    #[test]
    fn unknown_names_are_rejected_with_their_field() {
        assert_eq!(oci_err(json!({"defaultAction": "SCMP_ACT_NOPE"})), r#"linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE""#);
        assert_eq!(
            oci_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "allow"}]})),
            r#"linux.seccomp.syscalls[0].action: unknown action "allow""#
        );
        assert_eq!(
            oci_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]})),
            r#"linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_VAX""#
        );
        assert_eq!(
            oci_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]})),
            r#"linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_NOPE""#
        );
        assert_eq!(oci_err(json!({})), "linux.seccomp.defaultAction: missing");
        assert_eq!(
            oci_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]})),
            "linux.seccomp.syscalls[0].names: missing"
        );
        assert_eq!(
            oci_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"]}]})),
            "linux.seccomp.syscalls[0].action: missing"
        );
    }

    #[test]
    fn malformed_json_names_the_field() {
        let e = parse_oci_profile(&json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", "errnoRet": -1}]}))
            .expect_err("negative errno");
        assert!(e.to_string().starts_with("linux.seccomp.syscalls[0].errnoRet"), "{e}");
        let e = parse_oci_profile(&json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "op": "SCMP_CMP_EQ"}]}]}))
            .expect_err("value missing");
        assert!(e.to_string().starts_with("linux.seccomp.syscalls[0].args[0]"), "{e}");
        let e = parse_oci_profile(&json!("SCMP_ACT_ALLOW")).expect_err("not an object");
        assert!(e.to_string().starts_with("linux.seccomp:"), "{e}");
    }

    #[test]
    fn oci_fields_are_carried_over() {
        let v = json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "listenerPath": "/run/agent.sock",
            "listenerMetadata": "meta",
            "someFutureField": {"ignored": true},
            "syscalls": [
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 255, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}
            ]
        });
        let p = parse_oci_profile(&v).expect("valid");
        // the same object decoded by oci-spec must be equal
        let direct: LinuxSeccomp = serde_json::from_value(v).expect("oci-spec decodes it");
        assert_eq!(p, direct);
        assert_eq!(p.default_errno_ret(), Some(38));
        assert_eq!(p.syscalls().as_ref().map(|s| s.len()), Some(2));
    }

    #[test]
    fn docker_format_conditions_and_legacy_name() {
        let p = DockerProfile::from_json(
            br#"{
            "defaultAction": "SCMP_ACT_ERRNO",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": null}],
            "syscalls": [
                {"name": "read", "action": "SCMP_ACT_ALLOW"},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
                {"names": ["cacheflush"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                {"names": ["old"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.0"}}
            ]}"#,
        )
        .expect("valid docker profile");
        let names = |p: &LinuxSeccomp| -> Vec<String> {
            p.syscalls().iter().flatten().flat_map(|s| s.names().clone()).collect()
        };

        let k48 = KernelVersion::parse("4.8").expect("version");
        let k419 = KernelVersion::parse("4.19.0-21-amd64").expect("version");
        let none = p.resolve_for(&[], Arch::ScmpArchX86_64, Some(k419));
        assert_eq!(names(&none), ["read", "clone3", "arch_prctl", "ptrace", "old"]);
        assert_eq!(
            none.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );

        let admin = p.resolve_for(&["sys_admin".into()], Arch::ScmpArchX86_64, Some(KernelVersion::parse("6.1").expect("v")));
        assert_eq!(names(&admin), ["read", "mount", "arch_prctl", "ptrace"]);

        let arm = p.resolve_for(&[], Arch::ScmpArchAarch64, Some(KernelVersion::parse("4.7").expect("v")));
        assert_eq!(names(&arm), ["read", "clone3", "cacheflush", "old"]);
        assert_eq!(arm.architectures().as_deref(), Some(&[Arch::ScmpArchAarch64][..]));

        // unknown kernel: minimum-kernel inclusions are left out
        assert!(!names(&p.resolve_for(&[], Arch::ScmpArchX86_64, None)).contains(&"ptrace".to_string()));
        assert!(k419 > k48);
    }

    #[test]
    fn docker_format_errors() {
        let e = DockerProfile::from_json(br#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}"#)
            .expect_err("both");
        assert_eq!(e.to_string(), "syscalls[0]: 'name' and 'names' were both specified, use either one");
        let e = DockerProfile::from_json(br#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#)
            .expect_err("both");
        assert_eq!(e.to_string(), "archMap: 'architectures' and 'archMap' were both specified, use either one");
        let e = DockerProfile::from_json(br#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "four"}}]}"#)
            .expect_err("bad kernel");
        assert_eq!(e.to_string(), r#"syscalls[0].includes.minKernel: "four" is not a kernel version such as "4.8""#);
        let e = DockerProfile::from_json(br#"{"defaultAction": "SCMP_ACT_ERRNO"} trailing"#).expect_err("trailing");
        assert!(matches!(e, Error::Json { .. }), "{e}");
    }

    #[test]
    fn kernel_versions() {
        let v = |s| KernelVersion::parse(s);
        assert_eq!(v("6.18.44-fc-v657"), Some(KernelVersion { major: 6, minor: 18, patch: 44 }));
        assert_eq!(v("4.8"), Some(KernelVersion { major: 4, minor: 8, patch: 0 }));
        assert_eq!(v("5.10.0-rc1"), Some(KernelVersion { major: 5, minor: 10, patch: 0 }));
        assert_eq!(v("5"), None);
        assert_eq!(v(""), None);
        assert!(v("4.10") > v("4.9"), "numeric, not lexical");
        assert!(KernelVersion::running().is_some());
    }

    #[test]
    fn capability_names_are_normalised() {
        assert_eq!(normalize_cap("sys_admin"), "CAP_SYS_ADMIN");
        assert_eq!(normalize_cap("CAP_SYS_ADMIN"), "CAP_SYS_ADMIN");
        assert_eq!(normalize_cap(" cap_bpf "), "CAP_BPF");
    }
}
