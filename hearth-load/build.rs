//! The gRPC client of `--transport grpc`, generated from the server's `proto/api.proto` (the
//! wire contract, not server code). protox parses it in pure Rust: no protoc needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../proto/api.proto");
    let descriptors = protox::compile(["api.proto"], ["../proto"])?;
    tonic_prost_build::configure().build_server(false).build_client(true).compile_fds(descriptors)?;
    Ok(())
}
