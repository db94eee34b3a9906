use sea_orm::entity::prelude::*;

/// One direction of a friend edge: `source_id`'s view of `destination_id`.
/// `state`: 0 mutual friends, 1 invite sent, 2 invite received, 3 blocked.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_edge")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub source_id: Uuid,
    pub destination_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub state: i16,
    /// Creation time in nanoseconds; orders a user's edges within a state.
    #[sea_orm(primary_key, auto_increment = false)]
    pub position: i64,
    pub update_time: i64,
    /// A JSON object as text.
    pub metadata: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
