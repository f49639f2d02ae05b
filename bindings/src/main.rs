//! `uniffi-bindgen` for Wayfare, built from the same uniffi version as the core.

fn main() {
    uniffi::uniffi_bindgen_main()
}
