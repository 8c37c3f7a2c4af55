-- One row per scored person: churn probability and risk decile of the promoted churn model. Renamed and typed only; the marts read it through here, never the source.
with

source as (select * from {{ source('ml', 'user_churn_scores') }}),

final as (

    select
        -- ids
        person_id,

        -- measures
        churn_probability,
        risk_decile,

        -- dimensions
        model_version,

        -- timestamps
        scored_at
    from source

)

select * from final
