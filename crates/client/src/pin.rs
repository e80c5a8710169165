//! The PIN policy for new envelopes (session keys and owner keys).
//!
//! A PIN only slows down an attacker who has the envelope file; PBKDF2 buys time per guess,
//! the PIN decides how many guesses there are. New envelopes therefore refuse PINs that are
//! short or among the first few anyone tries. Envelopes made before the policy still open with
//! whatever PIN they were made with: the policy is checked when sealing, never when opening.

use crate::error::SessionError;

/// The fewest characters a PIN or passphrase of a new envelope may have.
pub const MIN_PIN_LEN: usize = 6;

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
