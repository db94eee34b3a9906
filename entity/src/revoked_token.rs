use sea_orm::entity::prelude::*;

/// A token id revoked by logout, kept until the token would have expired anyway.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "revoked_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tid: Uuid,
    /// 0 = access token, 1 = refresh token.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: i16,
    pub user_id: Uuid,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
