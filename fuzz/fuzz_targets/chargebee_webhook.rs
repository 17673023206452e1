#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| billsync::fuzzing::chargebee_webhook(data));
