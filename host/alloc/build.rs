//! Passes on where mimalloc's header is, so a unit test can check this crate's option numbers
//! against the header mimalloc was built from.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_MIMALLOC_INCLUDE_DIR");
    let dir = std::env::var("DEP_MIMALLOC_INCLUDE_DIR")
        .expect("libmimalloc-sys names its include directory (DEP_MIMALLOC_INCLUDE_DIR)");
    println!("cargo:rustc-env=RAMPART_MIMALLOC_INCLUDE_DIR={dir}");
}
