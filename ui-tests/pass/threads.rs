// Sealed handles move and are shared across threads; each thread opens its own scope.
use std::sync::Arc;

#[siegel::protected]
pub struct SigningKey {
    key: [u8; 32],
}

fn main() -> Result<(), siegel::Error> {
    let mut key = SigningKey::protect_with(|k| k.key_mut().fill(3))?;
    key = std::thread::spawn(move || {
        key.write().unwrap().key_mut()[0] = 4;
        key
    })
    .join()
    .unwrap();

    let key = Arc::new(key);
    let sums: Vec<u32> = (0..4)
        .map(|_| {
            let key = Arc::clone(&key);
            std::thread::spawn(move || {
                key.read().unwrap().key().iter().map(|&b| u32::from(b)).sum::<u32>()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(sums.iter().all(|&s| s == 4 + 31 * 3));

    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| assert_eq!(key.read().unwrap().key()[1], 3));
        }
    });
    Ok(())
}
