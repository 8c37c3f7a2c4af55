-- One row per scored person: the persona of the promoted segmentation model. Renamed and typed only; the marts read it through here, never the source.
with

source as (select * from {{ source('ml', 'user_segments') }}),

final as (

    select
        -- ids
        person_id,

        -- dimensions
        segment,
        model_version,

        -- timestamps
        scored_at
    from source

)

select * from final
