//! Android: btleplug reaches the platform's Bluetooth through JNI and must
//! be initialised with the JVM before the first scan. The JVM calls
//! `JNI_OnLoad` when the app loads the library with
//! `System.loadLibrary("wayfare_core")` (JNA's own loading does not), on a
//! thread whose class loader sees btleplug's Java classes, which the AAR
//! ships (bindings/android/build-aar.sh). If the initialisation fails,
//! the wallet works without Bluetooth: `discover_ble` then reports
//! `BluetoothUnavailable`.

// The one exported JNI entry point needs `no_mangle` and the raw VM pointer.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

use jni::sys::{jint, JNI_VERSION_1_6};
use jni::JavaVM;

/// Whether btleplug was initialised: without it, its first call panics.
static BLE_READY: AtomicBool = AtomicBool::new(false);

/// Whether Bluetooth LE can be used (the app loaded the library through
/// `System.loadLibrary` and btleplug initialised).
pub(crate) fn ble_ready() -> bool {
    BLE_READY.load(Ordering::Acquire)
}

/// Called by the JVM when the app loads the library: initialises btleplug.
#[no_mangle]
pub extern "system" fn JNI_OnLoad(vm: *mut jni::sys::JavaVM, _reserved: *mut c_void) -> jint {
    // SAFETY: the JVM passes a valid VM pointer that outlives the library.
    let vm = unsafe { JavaVM::from_raw(vm) };
    let initialised = vm.attach_current_thread(|env| -> Result<(), jni::errors::Error> {
        match btleplug::platform::init(env) {
            Ok(()) => BLE_READY.store(true, Ordering::Release),
            Err(e) => tracing::error!(target: "wayfare_core::ble", error = %e, "Bluetooth LE is unavailable: btleplug's JNI initialisation failed"),
        }
        Ok(())
    });
    if let Err(e) = initialised {
        tracing::error!(target: "wayfare_core::ble", error = %e, "cannot attach to the JVM to initialise Bluetooth LE");
    }
    JNI_VERSION_1_6
}
