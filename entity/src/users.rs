use sea_orm::entity::prelude::*;

/// One account. Every login identifier except devices is a unique column here.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub username: String,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub lang_tag: String,
    pub location: Option<String>,
    pub timezone: Option<String>,
    pub metadata: String,
    pub wallet: String,
    #[sea_orm(unique)]
    pub email: Option<String>,
    /// argon2id PHC string; `None` for accounts without a password.
    pub password: Option<String>,
    #[sea_orm(unique)]
    pub custom_id: Option<String>,
    #[sea_orm(unique)]
    pub facebook_id: Option<String>,
    #[sea_orm(unique)]
    pub google_id: Option<String>,
    #[sea_orm(unique)]
    pub gamecenter_id: Option<String>,
    #[sea_orm(unique)]
    pub steam_id: Option<String>,
    #[sea_orm(unique)]
    pub facebook_instant_game_id: Option<String>,
    #[sea_orm(unique)]
    pub apple_id: Option<String>,
    pub edge_count: i32,
    pub create_time: i64,
    pub update_time: i64,
    /// 0 = never verified.
    pub verify_time: i64,
    /// 0 = not banned; otherwise the ban time.
    pub disable_time: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::user_device::Entity")]
    UserDevice,
}

impl Related<super::user_device::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserDevice.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
