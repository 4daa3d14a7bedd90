//! Panics caught: a quiet hook that records where a panic happened, and the
//! internal error every export turns a caught panic into.

use crate::error::{Error, Kind};

thread_local! {
    /// Where this thread's last panic happened, for the error that reports it.
    static PANIC_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Installs, once, a panic hook that prints nothing: every export catches
/// panics and turns them into an error that says what failed and where, so
/// "panicked at" and a backtrace (with `RUST_BACKTRACE` set) never reach the
/// user's terminal, whatever third-party parser panicked.
pub fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Unit tests keep the default hook too, so a failing assert still
        // says why.
        #[cfg(test)]
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
            PANIC_AT.with(|p| *p.borrow_mut() = at);
            #[cfg(test)]
            previous(info);
        }));
    });
}

pub(super) fn panic_error(panic: &Box<dyn std::any::Any + Send>) -> Error {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    let at = PANIC_AT
        .with(|p| p.borrow_mut().take())
        .map(|at| format!(" (at {at})"))
        .unwrap_or_default();
    Error::new(
        Kind::Internal,
        "internal",
        format!("Internal error in the bpfx core: {what}{at}"),
    )
    .with_hint("this is a bug in bpfx: please report it with the command that caused it")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::catch_unwind;

    #[test]
    fn a_panic_is_quiet_and_its_error_says_where() {
        quiet_panics();
        let caught = catch_unwind(|| -> u32 { panic!("parser fell over") });
        let e = panic_error(&caught.unwrap_err());
        assert!(
            e.message
                .starts_with("Internal error in the bpfx core: parser fell over (at "),
            "{}",
            e.message
        );
        assert!(e.message.contains("abi/panics.rs:"), "{}", e.message);
    }

    #[test]
    fn a_panic_becomes_an_internal_error() {
        let e = panic_error(&(Box::new("boom") as Box<dyn std::any::Any + Send>));
        assert_eq!(e.kind, Kind::Internal);
        assert!(e.message.contains("boom"));
    }
}
