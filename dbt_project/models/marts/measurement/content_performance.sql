-- One row per content type x scenario, and per content type over every scenario (scenario
-- `all`): how campaign touches of that content did (plan 3.2, "内容效果评估需双维度").
-- Short term: the share of touches answered within 48 hours by the person touched, with a reply
-- (an inbound WeCom message), a click (a mini-program event carrying the touch's campaign_id) or a
-- coupon claim (a mini-program coupon_claim event); only touches whose 48 hours have passed by the
-- end of the data count. Long term: the 3-month repurchase rate of buyers touched with the content
-- in a calendar month against comparable buyers (touched by other campaigns that month, not with
-- this content), in the 3 calendar months after it, with the difference and a 95% Wald interval.
with

interactions as (select * from {{ ref('fct_interactions') }}),
orders as (select * from {{ ref('fct_orders') }}),
data_bounds as (select * from {{ ref('int_data_bounds') }}),

campaign_touches as (

    select
        interaction_id,
        person_id,
        campaign_id,
        coalesce(content_type, 'unknown') as content_type,
        coalesce(scenario, 'unknown') as scenario,
        occurred_at,
        occurred_date,
        cast({{ dbt.date_trunc('month', 'occurred_date') }} as date) as exposure_month
    from interactions
    where
        direction = 'outbound'
        and campaign_id is not null
        and person_id is not null

),

-- short term: responses within 48 hours ------------------------------------------------------------
responses as (

    select
        person_id,
        occurred_at,
        occurred_date,
        campaign_id,
        case when channel in ('wecom_1v1', 'wecom_group') then 1 else 0 end as is_reply,
        case when channel = 'miniprogram' and scenario = 'coupon_claim' then 1 else 0 end as is_claim
    from interactions
    where
        direction = 'inbound'
        and person_id is not null
        and (
            channel in ('wecom_1v1', 'wecom_group')
            or (channel = 'miniprogram' and (campaign_id is not null or scenario = 'coupon_claim'))
        )

),

measured_touches as (

    select campaign_touches.*
    from campaign_touches
    cross join data_bounds
    where {{ dbt.dateadd('hour', 48, 'campaign_touches.occurred_at') }} <= cast(data_bounds.data_end_date as {{ dbt.type_timestamp() }})

),

-- the 3 calendar days 48 hours can reach, so responses join on (person, day), not on a range
day_offsets as (

    select 0 as day_offset
    union all
    select 1 as day_offset
    union all
    select 2 as day_offset

),

response_days as (

    select
        measured_touches.interaction_id,
        measured_touches.person_id,
        measured_touches.campaign_id,
        measured_touches.occurred_at,
        {{ measurement_add_days('measured_touches.occurred_date', 'day_offsets.day_offset') }} as response_date
    from measured_touches
    cross join day_offsets

),

touch_responses as (

    select
        response_days.interaction_id,
        max(responses.is_reply) as is_replied,
        max(case when responses.campaign_id = response_days.campaign_id then 1 else 0 end) as is_clicked,
        max(responses.is_claim) as is_claimed
    from response_days
    inner join responses
        on
            responses.person_id = response_days.person_id
            and responses.occurred_date = response_days.response_date
    where
        responses.occurred_at > response_days.occurred_at
        and responses.occurred_at <= {{ dbt.dateadd('hour', 48, 'response_days.occurred_at') }}
    group by response_days.interaction_id

),

touch_outcomes as (

    select
        campaign_touches.content_type,
        campaign_touches.scenario,
        campaign_touches.person_id,
        case when measured_touches.interaction_id is not null then 1 else 0 end as is_measured,
        coalesce(touch_responses.is_replied, 0) as is_replied,
        coalesce(touch_responses.is_clicked, 0) as is_clicked,
        coalesce(touch_responses.is_claimed, 0) as is_claimed,
        case
            when
                touch_responses.is_replied = 1
                or touch_responses.is_clicked = 1
                or touch_responses.is_claimed = 1
                then 1
            else 0
        end as is_responded
    from campaign_touches
    left join measured_touches on measured_touches.interaction_id = campaign_touches.interaction_id
    left join touch_responses on touch_responses.interaction_id = campaign_touches.interaction_id

),

touch_outcomes_by_scenario as (

    select
        content_type,
        scenario,
        person_id,
        is_measured,
        is_replied,
        is_clicked,
        is_claimed,
        is_responded
    from touch_outcomes
    union all
    select
        content_type,
        'all' as scenario,
        person_id,
        is_measured,
        is_replied,
        is_clicked,
        is_claimed,
        is_responded
    from touch_outcomes

),

short_term as (

    select
        content_type,
        scenario,
        count(*) as touches,
        count(distinct person_id) as touched_users,
        sum(is_measured) as measured_touches,
        sum(is_measured * is_responded) as responded_touches,
        sum(is_measured * is_replied) as replied_touches,
        sum(is_measured * is_clicked) as clicked_touches,
        sum(is_measured * is_claimed) as claimed_touches
    from touch_outcomes_by_scenario
    group by content_type, scenario

),

-- long term: 3-month repurchase of touched vs comparable buyers -----------------------------------
-- exposure months whose 3 following calendar months lie inside the data
closed_months as (

    select distinct campaign_touches.exposure_month
    from campaign_touches
    cross join data_bounds
    where
        cast({{ dbt.dateadd('month', 4, 'campaign_touches.exposure_month') }} as date)
        <= data_bounds.data_end_date

),

first_purchases as (

    select
        person_id,
        min(ordered_date) as first_order_date
    from orders
    where not coalesce(is_refunded, false) and person_id is not null
    group by person_id

),

-- comparable buyers: touched by some campaign in the month, a buyer by its end
eligible_person_months as (

    select distinct
        campaign_touches.person_id,
        campaign_touches.exposure_month
    from campaign_touches
    inner join closed_months on closed_months.exposure_month = campaign_touches.exposure_month
    inner join first_purchases
        on
            first_purchases.person_id = campaign_touches.person_id
            and first_purchases.first_order_date
            < cast({{ dbt.dateadd('month', 1, 'campaign_touches.exposure_month') }} as date)

),

repurchases as (

    select
        eligible_person_months.person_id,
        eligible_person_months.exposure_month,
        max(
            case
                when
                    orders.ordered_date >= cast({{ dbt.dateadd('month', 1, 'eligible_person_months.exposure_month') }} as date)
                    and orders.ordered_date < cast({{ dbt.dateadd('month', 4, 'eligible_person_months.exposure_month') }} as date)
                    and not coalesce(orders.is_refunded, false)
                    then 1
                else 0
            end
        ) as is_repurchased
    from eligible_person_months
    left join orders on orders.person_id = eligible_person_months.person_id
    group by eligible_person_months.person_id, eligible_person_months.exposure_month

),

exposures as (

    select distinct
        person_id,
        exposure_month,
        content_type,
        scenario
    from campaign_touches
    union all
    select distinct
        person_id,
        exposure_month,
        content_type,
        'all' as scenario
    from campaign_touches

),

exposed as (

    select
        exposures.content_type,
        exposures.scenario,
        count(*) as touched_buyer_months,
        sum(repurchases.is_repurchased) as touched_repurchasers
    from exposures
    inner join repurchases
        on
            repurchases.person_id = exposures.person_id
            and repurchases.exposure_month = exposures.exposure_month
    group by exposures.content_type, exposures.scenario

),

all_eligible as (

    select
        count(*) as buyer_months,
        sum(is_repurchased) as repurchasers
    from repurchases

),

long_term as (

    select
        exposed.content_type,
        exposed.scenario,
        exposed.touched_buyer_months,
        1.0 * exposed.touched_repurchasers / exposed.touched_buyer_months as touched_repurchase_rate_3m,
        all_eligible.buyer_months - exposed.touched_buyer_months as untouched_buyer_months,
        1.0 * (all_eligible.repurchasers - exposed.touched_repurchasers)
        / nullif(all_eligible.buyer_months - exposed.touched_buyer_months, 0) as untouched_repurchase_rate_3m
    from exposed
    cross join all_eligible

),

compared as (

    select
        long_term.*,
        long_term.touched_repurchase_rate_3m - long_term.untouched_repurchase_rate_3m
            as repurchase_rate_diff_3m,
        sqrt(
            long_term.touched_repurchase_rate_3m * (1 - long_term.touched_repurchase_rate_3m)
            / long_term.touched_buyer_months
            + long_term.untouched_repurchase_rate_3m * (1 - long_term.untouched_repurchase_rate_3m)
            / nullif(long_term.untouched_buyer_months, 0)
        ) as diff_se
    from long_term

),

final as (

    select
        -- keys
        short_term.content_type,
        short_term.scenario,

        -- short term (48 hours)
        cast(short_term.touches as {{ dbt.type_bigint() }}) as touches,
        cast(short_term.touched_users as {{ dbt.type_bigint() }}) as touched_users,
        cast(short_term.measured_touches as {{ dbt.type_bigint() }}) as measured_touches,
        cast(short_term.responded_touches as {{ dbt.type_bigint() }}) as responded_touches,
        1.0 * short_term.responded_touches / nullif(short_term.measured_touches, 0) as response_rate,
        1.0 * short_term.replied_touches / nullif(short_term.measured_touches, 0) as reply_rate,
        1.0 * short_term.clicked_touches / nullif(short_term.measured_touches, 0) as click_rate,
        1.0 * short_term.claimed_touches / nullif(short_term.measured_touches, 0) as claim_rate,
        cast(rank() over (
            partition by short_term.scenario
            order by
                case when short_term.measured_touches > 0 then 0 else 1 end,
                1.0 * short_term.responded_touches / nullif(short_term.measured_touches, 0) desc
        ) as {{ dbt.type_int() }}) as response_rank,

        -- long term (3 calendar months after the exposure month)
        cast(coalesce(compared.touched_buyer_months, 0) as {{ dbt.type_bigint() }}) as touched_buyer_months,
        compared.touched_repurchase_rate_3m,
        cast(coalesce(compared.untouched_buyer_months, 0) as {{ dbt.type_bigint() }}) as untouched_buyer_months,
        compared.untouched_repurchase_rate_3m,
        compared.repurchase_rate_diff_3m,
        compared.repurchase_rate_diff_3m - {{ measurement_z_975() }} * compared.diff_se as diff_ci_low,
        compared.repurchase_rate_diff_3m + {{ measurement_z_975() }} * compared.diff_se as diff_ci_high
    from short_term
    left join compared
        on
            compared.content_type = short_term.content_type
            and compared.scenario = short_term.scenario

)

select * from final
