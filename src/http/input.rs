//! Request bodies that report every failing field at once.
//!
//! Each field of an input struct is a [`Field`], which deserializes on its
//! own and keeps its error instead of aborting the whole body. The handler
//! then takes the fields through a [`Validator`], which collects every
//! problem (unknown keys included) into one 422.

use super::error::{ApiError, FieldError};
use serde::de::{Deserialize, DeserializeOwned, Deserializer};

/// A field of a request body: absent, present but invalid, or a valid `T`.
#[derive(Debug, Default)]
pub enum Field<T> {
    #[default]
    Missing,
    Invalid(FieldError),
    Value(T),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(d)?;
        Ok(match serde_path_to_error::deserialize::<_, T>(raw) {
            Ok(v) => Field::Value(v),
            Err(e) => {
                let inner = e.path().to_string();
                let message = e.into_inner().to_string();
                // The field name is prefixed by the Validator; keep the inner path.
                Field::Invalid(FieldError::new(
                    if inner == "." { String::new() } else { inner },
                    message,
                ))
            }
        })
    }
}

/// Declares a request body whose fields are each a [`Field`], documented in
/// OpenAPI as the domain type they hold. Mark required fields with
/// `#[schema(required = true)]`.
#[macro_export]
macro_rules! input {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        #[derive(serde::Deserialize, utoipa::ToSchema)]
        $(#[$m])*
        pub struct $name {
            $(
                $(#[$fm])*
                #[serde(default)]
                #[schema(value_type = $ty)]
                $field: $crate::http::input::Field<$ty>,
            )*
        }
    };
}

/// Collects every problem of one request body.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn with_errors(errors: Vec<FieldError>) -> Self {
        Validator { errors }
    }

    fn take<T>(&mut self, name: &str, field: Field<T>) -> Option<T> {
        match field {
            Field::Missing => None,
            Field::Value(v) => Some(v),
            Field::Invalid(e) => {
                let path = if e.field.is_empty() {
                    name.to_owned()
                } else if e.field.starts_with('[') {
                    format!("{name}{}", e.field)
                } else {
                    format!("{name}.{}", e.field)
                };
                self.errors.push(FieldError::new(path, e.message));
                None
            }
        }
    }

    /// A field that must be present.
    pub fn required<T>(&mut self, name: &str, field: Field<T>) -> Option<T> {
        if matches!(field, Field::Missing) {
            self.errors.push(FieldError::new(name, "is required"));
        }
        self.take(name, field)
    }

    /// A field that may be absent or null.
    pub fn optional<T>(&mut self, name: &str, field: Field<Option<T>>) -> Option<T> {
        self.take(name, field).flatten()
    }

    /// In a PATCH: absent leaves the value, otherwise it must be valid (not null).
    pub fn change<T>(&mut self, name: &str, field: Field<T>) -> Option<T> {
        self.take(name, field)
    }

    /// In a PATCH of an optional value: absent leaves it, null clears it.
    pub fn change_nullable<T>(&mut self, name: &str, field: Field<Option<T>>) -> Option<Option<T>> {
        self.take(name, field)
    }

    /// A rule across fields, e.g. "planned_end not before planned_start".
    pub fn check(&mut self, ok: bool, field: &str, message: &str) {
        if !ok {
            self.errors.push(FieldError::new(field, message));
        }
    }

    /// The problem of a body whose required fields did not all arrive valid
    /// (each was reported by `required`, so the fallback never shows).
    pub fn incomplete(self) -> ApiError {
        self.finish().err().unwrap_or(ApiError::field("body", "is incomplete"))
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Code, Money};

    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Probe {
        code: Field<Code>,
        amount: Field<Money>,
        note: Field<Option<String>>,
    }

    #[test]
    fn every_failing_field_is_reported_with_its_path() {
        let p: Probe = serde_json::from_value(serde_json::json!({
            "code": "Bad Code", "amount": {"amount": "1.234", "currency": "CNY"}
        }))
        .unwrap();
        let mut v = Validator::default();
        assert!(v.required("code", p.code).is_none());
        assert!(v.required("amount", p.amount).is_none());
        assert_eq!(v.optional("note", p.note), None);
        let Err(ApiError::Validation(errors)) = v.finish() else {
            panic!("expected errors")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["code", "amount"]);
    }

    #[test]
    fn missing_required_fields_are_named() {
        let p: Probe = serde_json::from_value(serde_json::json!({})).unwrap();
        let mut v = Validator::default();
        v.required("code", p.code);
        let Err(ApiError::Validation(errors)) = v.finish() else {
            panic!("expected errors")
        };
        assert_eq!(errors[0].message, "is required");
    }
}
