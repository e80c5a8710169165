//! Where the state lives: the configuration's `database`, a file path (SQLite) or a
//! `postgres://` / `postgresql://` URL. A URL's password is a secret: [`Database`] shows it
//! redacted, in `Debug` and `Display` alike.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use url::Url;
use zeroize::Zeroizing;

use crate::error::PaymasterError;

/// The URL schemes that name a PostgreSQL server.
const POSTGRES_SCHEMES: [&str; 2] = ["postgres", "postgresql"];

/// What shows in place of a password.
const REDACTED: &str = "<redacted>";

/// The `database` setting.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file, created if missing.
    Sqlite(PathBuf),
    /// A PostgreSQL server, shared by every instance that names it.
    Postgres(PostgresUrl),
}

/// A PostgreSQL connection URL (`postgres://user:password@host:port/database?options`).
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(Zeroizing<String>);

impl PostgresUrl {
    /// The URL with its password, for the driver only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The same server and credentials, another database (tests make one each).
    pub fn with_database(&self, name: &str) -> Result<PostgresUrl, PaymasterError> {
        let mut url = Url::parse(&self.0).map_err(|_| bad_url(self))?;
        url.set_path(&format!("/{name}"));
        Ok(PostgresUrl(Zeroizing::new(url.into())))
    }
}

fn bad_url(url: &PostgresUrl) -> PaymasterError {
    PaymasterError::Config(format!("database: {url} is not a valid PostgreSQL URL"))
}

impl FromStr for PostgresUrl {
    type Err = PaymasterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = PostgresUrl(Zeroizing::new(s.to_owned()));
        match Url::parse(s) {
            Ok(u) if POSTGRES_SCHEMES.contains(&u.scheme()) => Ok(url),
            _ => Err(bad_url(&url)),
        }
    }
}

/// The URL with its password (in the user part or a `password` option) replaced.
impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(mut url) = Url::parse(&self.0) else {
            return write!(f, "postgres://{REDACTED}");
        };
        if url.password().is_some() {
            let _ = url.set_password(Some(REDACTED));
        }
        if url.query_pairs().any(|(k, _)| k == "password") {
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "password" {
                        REDACTED.into()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        f.write_str(url.as_str())
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({self})")
    }
}

impl FromStr for Database {
    type Err = PaymasterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let scheme = s.split_once("://").map(|(scheme, _)| scheme);
        if scheme.is_some_and(|sc| POSTGRES_SCHEMES.contains(&sc.to_ascii_lowercase().as_str())) {
            s.parse().map(Database::Postgres)
        } else if s.is_empty() {
            Err(PaymasterError::Config("database: empty".into()))
        } else {
            Ok(Database::Sqlite(PathBuf::from(s)))
        }
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => write!(f, "{url}"),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(url) => f.debug_tuple("Postgres").field(url).finish(),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Database {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_urls_are_told_apart_and_passwords_never_shown() {
        assert_eq!(
            "state/pm.sqlite".parse::<Database>().expect("path"),
            Database::Sqlite("state/pm.sqlite".into())
        );
        for text in [
            "postgres://pm:s3cret@db.internal:5432/paymaster",
            "postgresql://pm@db.internal/paymaster?password=s3cret&sslmode=disable",
        ] {
            let db: Database = text.parse().expect("url");
            assert!(matches!(db, Database::Postgres(_)));
            for shown in [format!("{db}"), format!("{db:?}")] {
                assert!(!shown.contains("s3cret"), "{shown}");
                assert!(shown.contains("db.internal"), "{shown}");
            }
        }
        let err = "postgres://pm:s3cret@[bad"
            .parse::<Database>()
            .expect_err("bad");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let url: PostgresUrl = "postgres://pm:s3cret@h:5/a?sslmode=disable"
            .parse()
            .expect("url");
        let other = url.with_database("b").expect("other");
        assert_eq!(other.expose(), "postgres://pm:s3cret@h:5/b?sslmode=disable");
    }
}
