//! The PATCH shape, once: load the record with a row lock, check the
//! version the caller expects, apply the change, save (the row's own
//! `before_save` adds one to `version` and stamps `updated_at`, see
//! `entities::versioned_row!`), and record the before and after views.
//! Status moves and named actions are the same shape with another name.

use super::error::{AppError, AppResult};
use super::uow::{Change, UnitOfWork};
use crate::store::outbox::Audience;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PrimaryKeyTrait, QuerySelect,
};
use serde::Serialize;
use uuid::Uuid;

/// The version a caller expects a record to have (`If-Match`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expected {
    /// No expectation (no `If-Match`, or `If-Match: *`).
    #[default]
    Any,
    Version(i32),
}

impl Expected {
    pub fn check(self, current: i32) -> AppResult<()> {
        match self {
            Expected::Version(v) if v != current => Err(AppError::VersionMismatch(format!(
                "If-Match is \"{v}\" but the current version is \"{current}\""
            ))),
            _ => Ok(()),
        }
    }
}

/// A versioned row and the view the API shows of it.
pub trait Record: Clone + Send + Sync + 'static {
    type Entity: EntityTrait<Model = Self>;
    type Row: ActiveModelTrait<Entity = Self::Entity> + ActiveModelBehavior + Send;
    type View: Serialize;
    /// The entity type, as the audit trail and the outbox name it.
    const KIND: &'static str;
    fn version(&self) -> i32;
    fn id(&self) -> Uuid;
    /// Which partners may read the record's events (staff read every one).
    fn audience(&self) -> Audience {
        Audience::default()
    }
    fn view(self) -> AppResult<Self::View>;
}

/// The [`Record`] of an entity module whose rows carry `id` and `version`
/// and whose view is `From`/`TryFrom` the row; `audience` names the
/// partners who may read its events (default: staff only).
macro_rules! record {
    ($entity:ident => $view:ty, $kind:expr $(, audience = $audience:expr)?) => {
        impl $crate::app::versioned::Record for $entity::Model {
            type Entity = $entity::Entity;
            type Row = $entity::ActiveModel;
            type View = $view;
            const KIND: &'static str = $kind;
            fn version(&self) -> i32 {
                self.version
            }
            fn id(&self) -> uuid::Uuid {
                self.id
            }
            $(fn audience(&self) -> $crate::store::outbox::Audience {
                ($audience)(self)
            })?
            fn view(self) -> $crate::app::AppResult<$view> {
                <$view>::try_from(self).map_err(Into::into)
            }
        }
    };
}
pub(crate) use record;

/// What kind of change an update is, for the audit trail and the outbox.
#[derive(Clone, Copy, Debug)]
pub enum How<'a> {
    /// A PATCH: `update`, `<entity>.updated`.
    Update,
    /// A status move: `transition:<to>` with its note, `<entity>.transitioned`.
    Transition { to: &'a str, note: Option<&'a str> },
    /// A named action, e.g. `achieve` announced as `milestone.achieved`.
    Named { action: &'a str, event: &'a str },
}

/// Loads a record by id with a row lock, or `NotFound`.
pub async fn locked<R: Record>(db: &impl ConnectionTrait, id: Uuid) -> AppResult<R>
where
    <<R::Entity as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>,
{
    R::Entity::find_by_id(id)
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// Applies `apply` to `current` (loaded with a lock in this unit of work)
/// if its version is the one expected, saves it and records the change.
/// Returns the saved record and its view.
pub async fn update<R>(
    uow: &mut UnitOfWork,
    current: R,
    expected: Expected,
    how: How<'_>,
    apply: impl FnOnce(&mut R::Row),
) -> AppResult<(R, R::View)>
where
    R: Record + IntoActiveModel<R::Row>,
{
    expected.check(current.version())?;
    let before = current.clone().view()?;
    let mut row = current.into_active_model();
    apply(&mut row);
    let saved: R = row.update(uow.db()).await?;
    let view = saved.clone().view()?;
    let (kind, id) = (R::KIND, saved.id());
    let change = match how {
        How::Update => Change::updated(kind, id, &before, &view),
        How::Transition { to, note } => Change::transitioned(kind, id, to, note, &before, &view),
        How::Named { action, event } => Change::named(action, event, kind, id, &before, &view),
    };
    uow.record(change.seen_by(saved.audience()));
    Ok((saved, view))
}
