-- One row per forecast day and channel: registrations forecast with the 80% interval. Renamed and typed only; the marts read it through here, never the source.
with

source as (select * from {{ source('ml', 'registration_forecast') }}),

final as (

    select
        -- ids
        cast(date as date) as forecast_date,
        channel,

        -- measures
        forecast,
        lower_80,
        upper_80,

        -- timestamps
        generated_at
    from source

)

select * from final
