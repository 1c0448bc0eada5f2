//! libFuzzer target `replay`: [`ledger_fuzzing::replay`] on every input (an `Err` is a refusal, only a panic is a find).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ledger_fuzzing::replay(data);
});
