//! A fake of the syscall layer for unit tests: a test installs a function
//! that answers some calls, and every call it declines goes to the kernel.
//! Outside `cfg(test)` this is a no-op that the optimizer removes.

use super::Call;
use std::io;

#[cfg(test)]
type Answer = Box<dyn Fn(&Call<'_>) -> Option<io::Result<i64>>>;

#[cfg(test)]
thread_local! {
    static FAKE: std::cell::RefCell<Option<Answer>> = const { std::cell::RefCell::new(None) };
}

/// The fake's answer to `call`, if a fake is installed and answers it.
#[cfg(test)]
pub fn answer(call: &Call<'_>) -> Option<io::Result<i64>> {
    FAKE.with(|f| f.borrow().as_ref().and_then(|f| f(call)))
}

#[cfg(not(test))]
#[inline(always)]
pub fn answer(_call: &Call<'_>) -> Option<io::Result<i64>> {
    None
}

/// Installs `f` for this thread until the returned guard drops.
#[cfg(test)]
pub fn install(f: impl Fn(&Call<'_>) -> Option<io::Result<i64>> + 'static) -> Guard {
    FAKE.with(|slot| *slot.borrow_mut() = Some(Box::new(f)));
    Guard
}

#[cfg(test)]
pub struct Guard;

#[cfg(test)]
impl Drop for Guard {
    fn drop(&mut self) {
        FAKE.with(|slot| *slot.borrow_mut() = None);
    }
}

/// An errno as a fake's answer.
#[cfg(test)]
pub fn errno(e: i32) -> Option<io::Result<i64>> {
    Some(Err(io::Error::from_raw_os_error(e)))
}
