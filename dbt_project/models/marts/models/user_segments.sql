{{ config(tags=['after_ml']) }}

with

segments as (select * from {{ ref('stg_ml__user_segments') }}),

final as (

    select
        person_id,
        segment,
        model_version,
        scored_at
    from segments

)

select * from final
