//! libFuzzer target `append`: [`ledger_fuzzing::append`] on every input (an `Err` is a refusal, only a panic is a find).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ledger_fuzzing::append(data);
});
