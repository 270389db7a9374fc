//! The demo's accounts: an in-memory table of users with Argon2 password
//! hashes. A real application keeps them in its database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// A fresh random salt.
fn salt() -> SaltString {
    SaltString::encode_b64(&rand::random::<[u8; 16]>()).expect("16 bytes make a valid salt")
}

/// Users by name, with the PHC string of their password hash.
#[derive(Clone, Default)]
pub(crate) struct Users {
    hashes: Arc<Mutex<HashMap<String, String>>>,
}

impl Users {
    /// Adds `name` with `password`; `false` if the name is taken.
    pub(crate) fn sign_up(&self, name: &str, password: &str) -> bool {
        let salt = salt();
        let Ok(hash) = Argon2::default().hash_password(password.as_bytes(), &salt) else {
            return false;
        };
        let mut hashes = self.hashes.lock().unwrap();
        if hashes.contains_key(name) {
            return false;
        }
        hashes.insert(name.to_owned(), hash.to_string());
        true
    }

    /// Whether `password` is `name`'s.
    pub(crate) fn check(&self, name: &str, password: &str) -> bool {
        let Some(stored) = self.hashes.lock().unwrap().get(name).cloned() else {
            // Hash anyway, so a wrong name takes as long as a wrong password.
            let _ = Argon2::default().hash_password(password.as_bytes(), &salt());
            return false;
        };
        PasswordHash::new(&stored).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
    }
}
