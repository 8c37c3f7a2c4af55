{{ config(tags=['after_ml']) }}

with

scores as (select * from {{ ref('stg_ml__user_churn_scores') }}),

final as (

    select
        person_id,
        churn_probability,
        risk_decile,
        model_version,
        scored_at
    from scores

)

select * from final
