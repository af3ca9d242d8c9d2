//! Migrations go up, all the way down, and up again, on both backends.

use crate::common::each_backend;
use migration::{Migrator, MigratorTrait};

#[tokio::test]
async fn migrations_go_down_and_up_cleanly() {
    each_backend(|app| async move {
        let applied = Migrator::get_applied_migrations(&app.db).await.expect("status");
        assert_eq!(applied.len(), Migrator::migrations().len());
        Migrator::down(&app.db, None).await.expect("down");
        assert!(
            Migrator::get_applied_migrations(&app.db)
                .await
                .expect("status")
                .is_empty()
        );
        Migrator::up(&app.db, None).await.expect("up again");
        // The schema is usable again: the reference data loads twice without change.
        assert!(climate_tracker::seed::reference(&app.db).await.expect("seed") > 0);
        assert_eq!(climate_tracker::seed::reference(&app.db).await.expect("seed again"), 0);
    })
    .await;
}
