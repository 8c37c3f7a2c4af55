-- The persons as the incremental measurement marts last saw them: one row per person_id with the
-- first day and channel the marts counted the person on. The next incremental run compares
-- dim_users with it (measurement_run_start) and rebuilds the days of every person whose identity
-- changed in between: a merge, a new anchor, an earlier first sighting from a late row.
-- Built after the marts (depends_on below), so a run whose marts failed keeps the older state.
-- Internal (schema intermediate), never published.
{{ config(materialized='table', schema='intermediate') }}

-- depends_on: {{ ref('engagement_daily') }}
-- depends_on: {{ ref('retention_cohorts') }}
-- depends_on: {{ ref('user_rfm') }}

with

users as (select * from {{ ref('dim_users') }}),

final as (

    select
        person_id,
        first_seen_date,
        first_channel
    from users

)

select * from final
