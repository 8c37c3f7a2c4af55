{{ config(tags=['after_ml']) }}

with

forecast as (select * from {{ source('ml', 'registration_forecast') }}),

final as (

    select
        cast(date as date) as date,
        channel,
        forecast,
        lower_80,
        upper_80,
        generated_at
    from forecast

)

select * from final
