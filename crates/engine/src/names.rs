//! Container ids and names: 64-hex random ids, docker's name rule
//! (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`), generated `adjective_surname` names.

use crate::error::{Error, Result};

/// A fresh 64-hex id, as docker's (random, never all digits, so that it is
/// never mistaken for a number).
pub(crate) fn new_id() -> String {
    loop {
        let mut buf = [0u8; 32];
        fill_random(&mut buf);
        let id = hex(&buf);
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

pub(crate) fn fill_random(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the pointer and length describe `rest`, a live, writable
        // slice; getrandom(2) writes at most that many bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
        } else if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // never reached on Linux >= 3.17; the clock is better than nothing
            let t = crate::time::now_nanos().to_le_bytes();
            for (i, b) in rest.iter_mut().enumerate() {
                *b = t[i % 8] ^ (i as u8);
            }
            return;
        }
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

/// Validates a user-given name (a leading `/` is dropped) and returns it
/// without the `/`.
pub(crate) fn validate(name: &str) -> Result<String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let b = n.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if !ok {
        return Err(Error::invalid(format!("Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")));
    }
    Ok(n.to_owned())
}

const LEFT: &[&str] = &[
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful", "blissful", "bold", "boring", "brave",
    "busy", "charming", "clever", "compassionate", "competent", "condescending", "confident", "cool", "cranky", "crazy", "dazzling",
    "determined", "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic", "exciting", "fervent",
    "festive", "flamboyant", "focused", "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious", "great", "happy",
    "hardcore", "heuristic", "hopeful", "hungry", "infallible", "inspiring", "intelligent", "interesting", "jolly", "jovial", "keen",
    "kind", "laughing", "loving", "lucid", "magical", "modest", "musing", "mystifying", "naughty", "nervous", "nice", "nifty",
    "nostalgic", "objective", "optimistic", "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical",
    "recursing", "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic", "strange", "stupefied",
    "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly",
    "wonderful", "xenodochial", "youthful", "zealous", "zen",
];

/// Scientists and engineers.
const RIGHT: &[&str] = &[
    "agnesi", "albattani", "allen", "almeida", "archimedes", "ardinghelli", "aryabhata", "austin", "babbage", "banach", "bardeen",
    "bartik", "bassi", "bell", "benz", "bhabha", "bhaskara", "blackwell", "bohr", "booth", "borg", "bose", "boyd", "brahmagupta",
    "brattain", "brown", "carson", "cerf", "chandrasekhar", "chatelet", "chebyshev", "clarke", "cohen", "colden", "cori", "cray",
    "curie", "darwin", "davinci", "dijkstra", "dirac", "einstein", "elion", "engelbart", "euclid", "euler", "faraday", "fermat",
    "fermi", "feynman", "franklin", "galileo", "gauss", "germain", "goldberg", "goldstine", "goodall", "hamilton", "hawking",
    "heisenberg", "hertz", "hodgkin", "hofstadter", "hopper", "hypatia", "jackson", "jang", "jennings", "johnson", "joliot", "kalam",
    "kepler", "khorana", "kilby", "knuth", "kowalevski", "lalande", "lamarr", "lamport", "leakey", "leavitt", "lovelace", "lumiere",
    "mahavira", "mayer", "mccarthy", "mcclintock", "meitner", "mendel", "merkle", "minsky", "mirzakhani", "morse", "napier", "nash",
    "newton", "nobel", "noether", "northcutt", "noyce", "panini", "pare", "pascal", "pasteur", "perlman", "pike", "poincare", "ptolemy",
    "raman", "ramanujan", "ride", "ritchie", "rosalind", "saha", "sammet", "shannon", "shockley", "sinoussi", "snyder", "spence",
    "stonebraker", "swanson", "swartz", "tesla", "thompson", "torvalds", "turing", "varahamihira", "visvesvaraya", "volhard", "wiles",
    "williams", "wilson", "wing", "wozniak", "wright", "wu", "yalow", "yonath",
];

/// `adjective_surname`; with `retry > 0` a digit is appended, as docker
/// does after a collision.
pub(crate) fn generate(retry: u32) -> String {
    let mut r = [0u8; 4];
    fill_random(&mut r);
    let l = LEFT[u16::from_le_bytes([r[0], r[1]]) as usize % LEFT.len()];
    let rr = RIGHT[u16::from_le_bytes([r[2], r[3]]) as usize % RIGHT.len()];
    if l == "boring" && rr == "wozniak" {
        // Steve Wozniak is not boring (docker's own rule)
        return generate(retry);
    }
    if retry > 0 {
        let mut d = [0u8; 1];
        fill_random(&mut d);
        format!("{l}_{rr}{}", d[0] % 10)
    } else {
        format!("{l}_{rr}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex() {
        let a = new_id();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_id());
    }

    #[test]
    fn docker_name_rule() {
        assert_eq!(validate("/web-1").unwrap(), "web-1");
        assert_eq!(validate("a.b_c").unwrap(), "a.b_c");
        for bad in ["a", "-x", "_x", "a/b", "a b", "", "é1"] {
            let e = validate(bad).unwrap_err();
            assert!(e.to_string().contains("only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"), "{bad}: {e}");
        }
    }

    #[test]
    fn generated_names_are_valid() {
        for i in 0..200 {
            let n = generate(i % 2);
            validate(&n).unwrap();
            assert!(n.contains('_'));
        }
    }
}
