//! Generates Rust from Hearth's schemas at build time: the gRPC messages, server and client
//! from `proto/api.proto`, and the realtime socket's `Envelope` from `proto/realtime.proto`
//! (which borrows `Notification` from the API file). protox parses the files in pure Rust
//! (its bundled well-known types included), so a fresh machine builds without protoc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["api.proto", "realtime.proto"], ["proto"])?;
    tonic_prost_build::configure()
        // Session variables are a BTreeMap everywhere else in Hearth.
        .btree_map(".")
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
