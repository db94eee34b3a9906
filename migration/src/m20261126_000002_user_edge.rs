use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

/// Friend edges, one row per direction (account.md §5).
#[derive(DeriveIden)]
enum UserEdge {
    Table,
    SourceId,
    DestinationId,
    State,
    Position,
    UpdateTime,
    Metadata,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UserEdge::Table)
                    .col(ColumnDef::new(UserEdge::SourceId).uuid().not_null())
                    .col(ColumnDef::new(UserEdge::DestinationId).uuid().not_null())
                    .col(ColumnDef::new(UserEdge::State).small_integer().not_null())
                    .col(ColumnDef::new(UserEdge::Position).big_integer().not_null())
                    .col(ColumnDef::new(UserEdge::UpdateTime).big_integer().not_null())
                    .col(ColumnDef::new(UserEdge::Metadata).text().not_null().default("{}"))
                    .primary_key(Index::create().col(UserEdge::SourceId).col(UserEdge::State).col(UserEdge::Position))
                    .foreign_key(
                        ForeignKey::create()
                            .name("user_edge_source_id_fkey")
                            .from(UserEdge::Table, UserEdge::SourceId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("user_edge_destination_id_fkey")
                            .from(UserEdge::Table, UserEdge::DestinationId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("user_edge_source_id_destination_id_key")
                    .table(UserEdge::Table)
                    .col(UserEdge::SourceId)
                    .col(UserEdge::DestinationId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("user_edge_destination_id_idx")
                    .table(UserEdge::Table)
                    .col(UserEdge::DestinationId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(UserEdge::Table).to_owned()).await
    }
}
