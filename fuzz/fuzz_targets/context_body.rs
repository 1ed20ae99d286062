//! Fuzz target `context_body`: the one-pass reader of `TASK_EXECUTE_REQUEST` bodies
//! (`TaskExecuteRequestCommand::context_from_body`) against the two-step serde_json path
//! (`Command::decode` + `.context()`), on arbitrary bodies.
//!
//! Invariant: both give the same context, or both refuse the body. The one-pass reader only
//! takes bodies shaped exactly as Jackson writes them and hands anything else to the serde
//! path, so a difference means it accepted something it misread.
//!
//! Seeds: real bodies of every dialect (`fuzz/seeds/context_body`); libFuzzer's mutations
//! then hit escapes, numbers, keys and the closing bytes.

#![no_main]

use dsmaster::protocol::TaskExecuteRequestCommand;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let one_pass = TaskExecuteRequestCommand::context_from_body(body).ok();
    let two_steps = serde_json::from_slice::<TaskExecuteRequestCommand>(body)
        .ok()
        .and_then(|c| c.context().ok());
    assert_eq!(one_pass, two_steps);
});
