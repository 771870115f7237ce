//! The XOR example converges from every one of ten seeds: its training function, included from
//! `examples/xor.rs`, is what `cargo run --example xor` runs.

#[path = "../examples/xor.rs"]
#[allow(dead_code)]
mod xor;

#[test]
fn xor_is_learned_from_ten_seeds() {
    for seed in 0..10 {
        let mut losses = Vec::new();
        let model = xor::train(seed, |_, loss| losses.push(loss));
        assert_eq!(losses.len(), xor::EPOCHS);
        assert_eq!(xor::correct(&model), 4, "seed {seed}: final loss {}", losses[losses.len() - 1]);
        // Correct and confident: every point's probability of its class is about 0.99 or more.
        let last = losses[losses.len() - 1];
        assert!(last < 0.01, "seed {seed}: final loss {last}");
        assert!(last < losses[0] / 50.0, "seed {seed}: loss {} -> {last}", losses[0]);
    }
}
