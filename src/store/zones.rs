//! Which zone a project's deadlines live in: its lead participant's
//! institution's (an explicit `time_zone`, else its country's default),
//! or UTC without a lead. Projects and milestones keep the zone in a
//! column so that "today" per project can be asked of the database.

use super::StoreResult;
use crate::domain::TimeZone;
use crate::domain::kinds::ParticipantRole;
use crate::entities::{institution, milestone, milestone_tally, participant, project};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// An institution's zone: the one it chose, else its country's.
pub fn of_institution(i: &institution::Model) -> TimeZone {
    i.time_zone
        .clone()
        .and_then(|z| TimeZone::try_from(z).ok())
        .unwrap_or_else(|| TimeZone::of_country(&i.country))
}

/// The zone a project's deadlines live in now: its (first) lead's, else UTC.
pub async fn of_project(db: &impl ConnectionTrait, project_id: Uuid) -> StoreResult<TimeZone> {
    let lead = participant::Entity::find()
        .filter(participant::Column::ProjectId.eq(project_id))
        .filter(participant::Column::Role.eq(ParticipantRole::Lead))
        .order_by_asc(participant::Column::CreatedAt)
        .order_by_asc(participant::Column::InstitutionId)
        .one(db)
        .await?;
    let Some(lead) = lead else {
        return Ok(TimeZone::utc());
    };
    let institution = institution::Entity::find_by_id(lead.institution_id).one(db).await?;
    Ok(institution.map_or_else(TimeZone::utc, |i| of_institution(&i)))
}

/// Writes a project's zone onto it and its milestones. The zone is derived
/// (nobody edits it), so this does not count as a change of the project:
/// no new version, no audit event. The caller moves the milestone tallies.
pub async fn set_project_zone(db: &impl ConnectionTrait, project_id: Uuid, zone: &TimeZone) -> StoreResult<()> {
    project::Entity::update_many()
        .col_expr(project::Column::TimeZone, Expr::value(zone.as_str()))
        .filter(project::Column::Id.eq(project_id))
        .exec(db)
        .await?;
    milestone::Entity::update_many()
        .col_expr(milestone::Column::TimeZone, Expr::value(zone.as_str()))
        .filter(milestone::Column::ProjectId.eq(project_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Sets every project's zone afresh (after migration 008 added the
/// column); the milestone tallies are counted afresh after it.
pub async fn refresh_all(db: &impl ConnectionTrait) -> StoreResult<u64> {
    const BATCH: u64 = 500;
    let mut after: Option<Uuid> = None;
    let mut changed = 0;
    loop {
        let mut select = project::Entity::find()
            .select_only()
            .columns([project::Column::Id, project::Column::TimeZone])
            .order_by_asc(project::Column::Id)
            .limit(BATCH);
        if let Some(id) = after {
            select = select.filter(project::Column::Id.gt(id));
        }
        let batch: Vec<(Uuid, String)> = select.into_tuple().all(db).await?;
        for (id, stored) in &batch {
            let zone = of_project(db, *id).await?;
            if zone.as_str() != stored {
                set_project_zone(db, *id, &zone).await?;
                changed += 1;
            }
        }
        if (batch.len() as u64) < BATCH {
            return Ok(changed);
        }
        after = batch.last().map(|(id, _)| *id);
    }
}

/// The zones milestones are kept in (from the tallies: a handful of rows
/// per zone, never the milestones themselves).
pub async fn in_use(db: &impl ConnectionTrait) -> StoreResult<Vec<String>> {
    Ok(milestone_tally::Entity::find()
        .select_only()
        .column(milestone_tally::Column::TimeZone)
        .distinct()
        .filter(milestone_tally::Column::Milestones.ne(0))
        .into_tuple()
        .all(db)
        .await?)
}
