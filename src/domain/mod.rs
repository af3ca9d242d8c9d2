//! Types and rules of the cooperation, free of HTTP and SQL.
//!
//! Every type here can only be constructed valid ("parse, don't validate"):
//! deserializing one runs its checks, so a handler that holds a `Code` or a
//! `Money` never checks it again.

pub mod codes;
pub mod date;
pub mod delivery;
pub mod health;
pub mod kinds;
pub mod ledger;
pub mod money;
pub mod results;
pub mod status;
pub mod text;
pub mod zones;

pub use codes::{Code, CountryCode};
pub use date::Date;
pub use money::{Currency, ExchangeRate, Money, PositiveMoney};
pub use text::{Email, FocusArea, Line, LocalizedText, LongText, Note, ShortText};
pub use zones::TimeZone;
