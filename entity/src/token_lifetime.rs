use sea_orm::entity::prelude::*;

/// One row (`id` 1): the longest token lifetime any node has issued tokens with. An
/// invalidation is kept that long, whatever the lifetimes configured later.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_lifetime")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i16,
    pub longest_sec: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
