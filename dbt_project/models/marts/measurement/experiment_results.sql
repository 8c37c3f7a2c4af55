-- One row per experiment x variant: persons assigned, conversions within the experiment's window,
-- and for each non-control variant the absolute lift versus control with a 95% Wald interval and
-- the two-sided p-value of the pooled two-proportion z-test.
-- Assignment: the variant of the person's first send in the experiment (ties: lowest
-- interaction_id). Conversion: a non-refunded order after that send and within window_days days.
with

interactions as (select * from {{ ref('fct_interactions') }}),
orders as (select * from {{ ref('fct_orders') }}),
experiment_windows as (select * from {{ ref('experiment_windows') }}),

sends as (

    select
        experiment_id,
        person_id,
        variant,
        occurred_at,
        row_number() over (
            partition by experiment_id, person_id
            order by occurred_at, interaction_id
        ) as send_number
    from interactions
    where
        direction = 'outbound'
        and experiment_id is not null
        and variant is not null
        and person_id is not null

),

assignments as (

    select
        sends.experiment_id,
        sends.person_id,
        sends.variant,
        sends.occurred_at as first_sent_at,
        coalesce(listed.window_days, default_window.window_days) as window_days
    from sends
    left join experiment_windows as listed
        on listed.experiment_id = sends.experiment_id
    left join experiment_windows as default_window
        on default_window.experiment_id = '__default__'
    where sends.send_number = 1

),

converted as (

    select distinct
        assignments.experiment_id,
        assignments.person_id
    from assignments
    inner join orders
        on orders.person_id = assignments.person_id
    where
        not coalesce(orders.is_refunded, false)
        and orders.ordered_at > assignments.first_sent_at
        and orders.ordered_at <= {{ dbt.dateadd('day', 'assignments.window_days', 'assignments.first_sent_at') }}

),

variant_counts as (

    select
        assignments.experiment_id,
        assignments.variant,
        max(assignments.window_days) as window_days,
        count(*) as users,
        count(converted.person_id) as conversions,
        -- double, not 1.0 * (a decimal on Spark, rounded to 6 places in the statistics below)
        cast(count(converted.person_id) as double) / count(*) as conversion_rate
    from assignments
    left join converted
        on
            converted.experiment_id = assignments.experiment_id
            and converted.person_id = assignments.person_id
    group by assignments.experiment_id, assignments.variant

),

compared as (

    select
        variant_counts.*,
        control.users as control_users,
        control.conversion_rate as control_conversion_rate,
        cast(variant_counts.conversions + control.conversions as double)
        / (variant_counts.users + control.users) as pooled_rate
    from variant_counts
    left join variant_counts as control
        on control.experiment_id = variant_counts.experiment_id and control.variant = 'control'
    where variant_counts.variant <> 'control' or control.variant is null

),

statistics as (

    select
        *,
        conversion_rate - control_conversion_rate as lift_vs_control,
        sqrt(
            conversion_rate * (1 - conversion_rate) / users
            + control_conversion_rate * (1 - control_conversion_rate) / control_users
        ) as unpooled_se,
        sqrt(pooled_rate * (1 - pooled_rate) * (1.0 / users + 1.0 / control_users)) as pooled_se
    from compared

),

treatment_rows as (

    select
        experiment_id,
        variant,
        window_days,
        users,
        conversions,
        conversion_rate,
        lift_vs_control,
        lift_vs_control / nullif(control_conversion_rate, 0) as relative_lift_vs_control,
        lift_vs_control - {{ measurement_z_975() }} * unpooled_se as ci_low,
        lift_vs_control + {{ measurement_z_975() }} * unpooled_se as ci_high,
        lift_vs_control / nullif(pooled_se, 0) as z_statistic
    from statistics

),

control_rows as (

    select
        experiment_id,
        variant,
        window_days,
        users,
        conversions,
        conversion_rate,
        cast(null as {{ dbt.type_float() }}) as lift_vs_control,
        cast(null as {{ dbt.type_float() }}) as relative_lift_vs_control,
        cast(null as {{ dbt.type_float() }}) as ci_low,
        cast(null as {{ dbt.type_float() }}) as ci_high,
        cast(null as {{ dbt.type_float() }}) as z_statistic
    from variant_counts
    where variant = 'control'

),

unioned as (

    select * from treatment_rows
    union all
    select * from control_rows

),

final as (

    select
        -- keys
        experiment_id,
        variant,

        -- counts
        window_days,
        users,
        conversions,
        conversion_rate,

        -- comparison with control (null on the control row)
        lift_vs_control,
        relative_lift_vs_control,
        ci_low,
        ci_high,
        z_statistic,
        {{ measurement_two_sided_p_value('z_statistic') }} as p_value
    from unioned

)

select * from final
