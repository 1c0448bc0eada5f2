//! libFuzzer target `stored_event`: [`ledger_fuzzing::stored_event`] on every input (an `Err` is a refusal, only a panic is a find).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ledger_fuzzing::stored_event(data);
});
