//! The policies for the secret of a new envelope: a PIN for a session key, a passphrase for an
//! owner key.
//!
//! A PIN only slows down an attacker who has the envelope file; the key derivation buys time
//! per guess, the PIN decides how many guesses there are. New session envelopes therefore
//! refuse PINs that are short or among the first few anyone tries — enough for a key that
//! expires within hours and can do only what its session allows. An owner key is the
//! account's root and lives for years: its passphrase must be strong by a real estimate
//! (zxcvbn, which knows common passwords, words, names, dates, keyboard walks and l33t), not by
//! a home-made rule. Envelopes made before a policy still open with whatever they were made
//! with: policies are checked when sealing, never when opening.

use crate::error::SessionError;

/// The fewest characters a PIN or passphrase of a new envelope may have.
pub const MIN_PIN_LEN: usize = 6;

/// The lowest zxcvbn score (0–4) an owner key's passphrase may have: 3 is "safely
/// unguessable", an estimated 10^8 guesses or more — each an Argon2id run over 19 MiB.
pub const MIN_OWNER_PASSPHRASE_SCORE: u8 = 3;

/// Checks the passphrase of a new owner envelope: its zxcvbn strength estimate must score at
/// least [`MIN_OWNER_PASSPHRASE_SCORE`]. Refusals are [`SessionError::WeakPassphrase`], naming
/// the rule, the score and zxcvbn's warning (fixed texts), never the passphrase.
pub fn check_owner_passphrase(passphrase: &str) -> Result<(), SessionError> {
    let estimate = zxcvbn::zxcvbn(passphrase, &[]);
    let score = u8::from(estimate.score());
    if score >= MIN_OWNER_PASSPHRASE_SCORE {
        return Ok(());
    }
    let warning = estimate
        .feedback()
        .and_then(|f| f.warning())
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    Err(SessionError::WeakPassphrase(format!(
        "an owner key's passphrase must score at least {MIN_OWNER_PASSPHRASE_SCORE} of 4 in \
         zxcvbn's strength estimate; this one scores {score}{warning}. Three or four uncommon \
         words, or a password manager's random passphrase, pass"
    )))
}

/// Checks a PIN for a new envelope: at least [`MIN_PIN_LEN`] characters, not one character
/// repeated (`000000`, `aaaaaa`), not a run of consecutive digits either way (`123456`,
/// `654321`, and across the 9–0 boundary: `890123`). Refusals are [`SessionError::WeakPin`];
/// the message says which rule, never the PIN.
pub fn check_new_pin(pin: &str) -> Result<(), SessionError> {
    let chars: Vec<char> = pin.chars().collect();
    if chars.len() < MIN_PIN_LEN {
        return Err(SessionError::WeakPin(
            "a new PIN must have at least 6 characters",
        ));
    }
    if chars.iter().all(|c| *c == chars[0]) {
        return Err(SessionError::WeakPin(
            "a new PIN must not be one character repeated",
        ));
    }
    if let Some(digits) = chars
        .iter()
        .map(|c| c.to_digit(10))
        .collect::<Option<Vec<u32>>>()
    {
        let steps = |step: u32| digits.windows(2).all(|w| (w[0] + step) % 10 == w[1]);
        if steps(1) || steps(9) {
            return Err(SessionError::WeakPin(
                "a new PIN must not be a run of consecutive digits",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_repeated_and_sequential_pins_are_refused_with_their_rule() {
        for (pin, rule) in [
            ("", "at least 6"),
            ("4821", "at least 6"),
            ("48219", "at least 6"),
            ("000000", "repeated"),
            ("aaaaaaaa", "repeated"),
            ("123456", "consecutive"),
            ("654321", "consecutive"),
            ("0123456789", "consecutive"),
            ("890123", "consecutive"),
            ("210987", "consecutive"),
        ] {
            let e = check_new_pin(pin).expect_err(pin);
            assert_eq!(e.code(), "WEAK_PIN", "{pin}");
            assert!(e.to_string().contains(rule), "{pin}: {e}");
            assert!(pin.len() < 4 || !e.to_string().contains(pin), "{pin}: {e}");
        }
    }

    #[test]
    fn owner_passphrases_need_a_zxcvbn_score_of_three() {
        for weak in [
            "",
            "482193",
            "Summer2024!",
            "dragon-1990",
            "Password1!",
            "qwertyuiop",
        ] {
            let e = check_owner_passphrase(weak).expect_err(weak);
            assert_eq!(e.code(), "WEAK_PASSPHRASE", "{weak}");
            assert!(e.to_string().contains("at least 3 of 4"), "{weak}: {e}");
            assert!(
                weak.len() < 4 || !e.to_string().contains(weak),
                "{weak}: {e}"
            );
        }
        for strong in [
            "tundra velvet oxide harbor",
            "k7#Vq2!mZp9@Lw4e",
            "483920173",
        ] {
            assert!(check_owner_passphrase(strong).is_ok(), "{strong}");
        }
    }

    #[test]
    fn ordinary_pins_and_passphrases_pass() {
        for pin in [
            "482193",
            "123457",
            "112233",
            "demo-pin-4821",
            "correct horse",
            "ééééé1",
        ] {
            assert!(check_new_pin(pin).is_ok(), "{pin}");
        }
    }
}
