//! Who makes a change: a token, a signed-in person, or the service itself.
//! Every use case takes its actor from the unit of work; the role rules
//! that do not depend on a record live here.

use super::error::{AppError, AppResult};
use crate::domain::kinds::Role;
use crate::store::audit::Author;
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// An API token.
    Token(Uuid),
    /// The service itself: seeding, the command line, scheduled jobs.
    System,
}

#[derive(Clone, Debug)]
pub struct Actor {
    pub credential: Credential,
    /// As the audit trail names the actor.
    pub name: String,
    pub role: Role,
    /// Set for, and only for, partners.
    pub institution_id: Option<Uuid>,
}

impl Actor {
    pub fn token(id: Uuid, name: String, role: Role, institution_id: Option<Uuid>) -> Actor {
        Actor {
            credential: Credential::Token(id),
            name,
            role,
            institution_id,
        }
    }

    /// The service acting for itself, with an admin's rights; `name` says
    /// what for (`system:seed`, `system:scheduler`).
    pub fn system(name: &str) -> Actor {
        Actor {
            credential: Credential::System,
            name: name.to_owned(),
            role: Role::Admin,
            institution_id: None,
        }
    }

    pub fn token_id(&self) -> Option<Uuid> {
        match self.credential {
            Credential::Token(id) => Some(id),
            Credential::System => None,
        }
    }

    pub fn author(&self) -> Author<'_> {
        Author {
            token_id: self.token_id(),
            name: &self.name,
        }
    }

    pub fn require_admin(&self) -> AppResult<()> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(AppError::Forbidden("this action needs an admin token")),
        }
    }

    /// For resource kinds a partner can never use.
    pub fn require_staff(&self) -> AppResult<()> {
        match self.role {
            Role::Admin | Role::Viewer => Ok(()),
            Role::Partner => Err(AppError::Forbidden("partner tokens cannot use this resource")),
        }
    }

    /// The institution a partner is bound to; `None` for admins, viewers
    /// and the system, who see everything. (A partner without one, which
    /// the schema forbids, would see nothing.)
    pub fn partner_scope(&self) -> Option<Uuid> {
        match self.role {
            Role::Partner => Some(self.institution_id.unwrap_or(Uuid::nil())),
            _ => None,
        }
    }
}
