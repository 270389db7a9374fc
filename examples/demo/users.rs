//! The demo's accounts: an in-memory table of users with Argon2 password
//! hashes and a security stamp, bumped on every password change. A real
//! application keeps them in its database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// A fresh random salt.
fn salt() -> SaltString {
    SaltString::encode_b64(&rand::random::<[u8; 16]>()).expect("16 bytes make a valid salt")
}

fn hash(password: &str) -> Option<String> {
    let salt = salt();
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .ok()?;
    Some(hash.to_string())
}

/// One account.
struct Account {
    /// The PHC string of the password hash.
    hash: String,
    /// Changes with the password: sessions signed in under another stamp end.
    stamp: u64,
}

/// Users by name.
#[derive(Clone, Default)]
pub(crate) struct Users {
    accounts: Arc<Mutex<HashMap<String, Account>>>,
}

impl Users {
    /// Adds `name` with `password`; `false` if the name is taken.
    pub(crate) fn sign_up(&self, name: &str, password: &str) -> bool {
        let Some(hash) = hash(password) else {
            return false;
        };
        let mut accounts = self.accounts.lock().unwrap();
        if accounts.contains_key(name) {
            return false;
        }
        accounts.insert(name.to_owned(), Account { hash, stamp: 1 });
        true
    }

    /// Whether `password` is `name`'s.
    pub(crate) fn check(&self, name: &str, password: &str) -> bool {
        let stored = self
            .accounts
            .lock()
            .unwrap()
            .get(name)
            .map(|a| a.hash.clone());
        let Some(stored) = stored else {
            // Hash anyway, so a wrong name takes as long as a wrong password.
            let _ = hash(password);
            return false;
        };
        PasswordHash::new(&stored).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
    }

    /// Sets `name`'s password and bumps the stamp; returns the new stamp.
    pub(crate) fn change_password(&self, name: &str, password: &str) -> Option<u64> {
        let hash = hash(password)?;
        let mut accounts = self.accounts.lock().unwrap();
        let account = accounts.get_mut(name)?;
        account.hash = hash;
        account.stamp += 1;
        Some(account.stamp)
    }

    /// The security stamp of `name`: the fingerprint of their credentials.
    pub(crate) fn stamp(&self, name: &str) -> Option<u64> {
        self.accounts.lock().unwrap().get(name).map(|a| a.stamp)
    }
}
