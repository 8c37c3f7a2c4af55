{{ config(tags=['after_ml']) }}

with

forecast as (select * from {{ ref('stg_ml__registration_forecast') }}),

final as (

    select
        forecast_date as date,
        channel,
        forecast,
        lower_80,
        upper_80,
        generated_at
    from forecast

)

select * from final
