//! OCI images: references, registry client, content store, pull/push.
