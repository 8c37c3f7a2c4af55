-- One row per day x user layer: the interaction rate (互动率, plan 8.1) of each RFM tier and of each
-- segment (plan 3.4: the participation rate broken down by user layer), with the layer's target
-- from kpi_targets (the plan: high-value users reach 60%) and the +-15% anomaly flag against the
-- layer's trailing 28 days (the cockpit's rules, macros/measurement/kpi_rules.sql).
-- A person counts in a layer on a day when first seen on or before it (engagement_daily's
-- total_users), and interacts when they had an inbound interaction in the 30 days ending on it
-- (engagement_daily's interacting_users), so on every day each layer type's persons and
-- interacting persons add up to engagement_daily's.
-- rfm_tier: the person's tier in that day's user_rfm snapshot; persons without a non-refunded
-- order through the day have no snapshot: layer no_purchase. segment: the person's current
-- segment (user_segments keeps no history, so every day counts the persons by the segment they
-- have now); persons without a segment (no model promoted yet, or not scored): unscored.
-- Reads the segments, so it runs in the dbt step after the models (tag after_ml); rebuilt whole
-- each run (a new scoring changes every day's segment counts).
{{ config(tags=['after_ml']) }}

with

engagement_daily as (select * from {{ ref('engagement_daily') }}),
users as (select * from {{ ref('dim_users') }}),
user_rfm as (select * from {{ ref('user_rfm') }}),
segments as (select * from {{ ref('stg_ml__user_segments') }}),
kpi_targets as (select * from {{ ref('kpi_targets') }}),

inbound_person_days as (

    select distinct
        person_id,
        occurred_date
    from {{ ref('fct_interactions') }}
    where direction = 'inbound' and person_id is not null

),

-- interacting spells: an inbound day o makes the person interacting on [o, o + 30); spells closer
-- than that merge (gaps and islands, as engagement_daily counts them)
inbound_neighbours as (

    select
        person_id,
        occurred_date,
        case
            when
                lag(occurred_date) over (partition by person_id order by occurred_date)
                >= {{ measurement_add_days('occurred_date', -30) }}
                then 0
            else 1
        end as opens_spell
    from inbound_person_days

),

numbered_days as (

    select
        person_id,
        occurred_date,
        sum(opens_spell) over (
            partition by person_id order by occurred_date rows between unbounded preceding and current row
        ) as spell_number
    from inbound_neighbours

),

interacting_spells as (

    select
        person_id,
        min(occurred_date) as spell_start_date,
        {{ measurement_add_days('max(occurred_date)', 30) }} as spell_end_date
    from numbered_days
    group by person_id, spell_number

),

-- rfm_tier -------------------------------------------------------------------------------------

-- buyers by tier per snapshot day, and those of them interacting that day
buyer_tier_days as (

    select
        user_rfm.as_of_date as date,
        user_rfm.rfm_tier as layer_value,
        count(*) as persons,
        count(interacting_spells.person_id) as interacting_persons
    from user_rfm
    left join interacting_spells
        on
            interacting_spells.person_id = user_rfm.person_id
            and interacting_spells.spell_start_date <= user_rfm.as_of_date
            and interacting_spells.spell_end_date > user_rfm.as_of_date
    group by user_rfm.as_of_date, user_rfm.rfm_tier

),

buyers_of_day as (

    select
        date,
        sum(persons) as persons,
        sum(interacting_persons) as interacting_persons
    from buyer_tier_days
    group by date

),

-- every tier on every day (0 persons on a day without a buyer of the tier), and everyone else
-- first seen by the day: engagement_daily's counts less the buyers'
rfm_tier_values as (

    select distinct rfm_tier as layer_value
    from user_rfm

),

rfm_layers as (

    select
        engagement_daily.date,
        rfm_tier_values.layer_value,
        coalesce(buyer_tier_days.persons, 0) as persons,
        coalesce(buyer_tier_days.interacting_persons, 0) as interacting_persons
    from engagement_daily
    cross join rfm_tier_values
    left join buyer_tier_days
        on
            buyer_tier_days.date = engagement_daily.date
            and buyer_tier_days.layer_value = rfm_tier_values.layer_value

    union all

    select
        engagement_daily.date,
        'no_purchase' as layer_value,
        engagement_daily.total_users - coalesce(buyers_of_day.persons, 0) as persons,
        engagement_daily.interacting_users - coalesce(buyers_of_day.interacting_persons, 0)
            as interacting_persons
    from engagement_daily
    left join buyers_of_day on buyers_of_day.date = engagement_daily.date

),

-- segment --------------------------------------------------------------------------------------

person_segments as (

    select
        users.person_id,
        users.first_seen_date,
        coalesce(segments.segment, 'unscored') as layer_value
    from users
    left join segments on segments.person_id = users.person_id
    where users.first_seen_date is not null

),

segment_values as (

    select distinct layer_value
    from person_segments

),

-- the counts are step functions of the day (engagement_daily's method): +1 where a person is
-- first seen or a spell opens, -1 where a spell closes, summed per segment in date order
segment_events as (

    select
        layer_value,
        first_seen_date as event_date,
        1 as persons_delta,
        0 as interacting_persons_delta
    from person_segments

    union all

    select
        person_segments.layer_value,
        interacting_spells.spell_start_date as event_date,
        0 as persons_delta,
        1 as interacting_persons_delta
    from interacting_spells
    inner join person_segments on person_segments.person_id = interacting_spells.person_id

    union all

    select
        person_segments.layer_value,
        interacting_spells.spell_end_date as event_date,
        0 as persons_delta,
        -1 as interacting_persons_delta
    from interacting_spells
    inner join person_segments on person_segments.person_id = interacting_spells.person_id

    union all

    -- every day of every segment, so each finds its levels by equality
    select
        segment_values.layer_value,
        engagement_daily.date as event_date,
        0 as persons_delta,
        0 as interacting_persons_delta
    from engagement_daily
    cross join segment_values

),

segment_levels as (

    select
        layer_value,
        event_date,
        sum(sum(persons_delta)) over (
            partition by layer_value order by event_date rows between unbounded preceding and current row
        ) as persons,
        sum(sum(interacting_persons_delta)) over (
            partition by layer_value order by event_date rows between unbounded preceding and current row
        ) as interacting_persons
    from segment_events
    group by layer_value, event_date

),

segment_layers as (

    select
        engagement_daily.date,
        segment_levels.layer_value,
        segment_levels.persons,
        segment_levels.interacting_persons
    from engagement_daily
    inner join segment_levels on segment_levels.event_date = engagement_daily.date

),

-- rates, targets, movement -------------------------------------------------------------------

grid as (

    select
        date,
        'rfm_tier' as layer_type,
        layer_value,
        persons,
        interacting_persons,
        1.0 * interacting_persons / nullif(persons, 0) as value
    from rfm_layers

    union all

    select
        date,
        'segment' as layer_type,
        layer_value,
        persons,
        interacting_persons,
        1.0 * interacting_persons / nullif(persons, 0) as value
    from segment_layers

),

trailing_levels as (

    {{ kpi_trailing_levels('grid', ['layer_type', 'layer_value']) }}

),

-- the brand's interaction rate row: the anomaly threshold of layers without a target of their own
overall_target as (

    select anomaly_threshold
    from kpi_targets
    where kpi = 'interaction_rate'

),

final as (

    select
        -- keys
        grid.date,
        grid.layer_type,
        grid.layer_value,

        -- interaction rate
        cast(grid.persons as {{ dbt.type_bigint() }}) as persons,
        cast(grid.interacting_persons as {{ dbt.type_bigint() }}) as interacting_persons,
        grid.value as interaction_rate,

        -- target (kpi_targets rows with this layer)
        layer_targets.kpi as target_kpi,
        layer_targets.target,
        case
            when layer_targets.target is not null and grid.value is not null
                then {{ kpi_meets_target('grid.value', 'layer_targets.target', 'layer_targets.direction') }}
        end as meets_target,

        -- movement
        trailing_levels.trailing_28d,
        {{ kpi_change_pct('grid.value', 'trailing_levels.trailing_28d') }} as change_pct,
        {{ kpi_is_anomaly(
            'grid.value',
            'trailing_levels.trailing_28d',
            'coalesce(layer_targets.anomaly_threshold, overall_target.anomaly_threshold)',
        ) }} as is_anomaly
    from grid
    left join trailing_levels
        on
            trailing_levels.date = grid.date
            and trailing_levels.layer_type = grid.layer_type
            and trailing_levels.layer_value = grid.layer_value
    left join kpi_targets as layer_targets
        on
            layer_targets.layer_type = grid.layer_type
            and layer_targets.layer_value = grid.layer_value
    left join overall_target on true

)

select * from final
