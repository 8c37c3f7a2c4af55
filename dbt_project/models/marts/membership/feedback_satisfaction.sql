-- One row per month of CRM member feedback (order feedback and satisfaction surveys): the
-- distribution of the 1-5 scores, their average and an NPS-style score, promoters minus
-- detractors in points of 100, with the seed nps_score_groups mapping each score to its group
-- (seed 001, member satisfaction; seed 000 8.1 names NPS among the brand KPIs).
with

feedback as (select * from {{ ref('stg_crm__feedback') }}),
score_groups as (select * from {{ ref('nps_score_groups') }}),

scored as (

    select
        cast({{ dbt.date_trunc('month', 'feedback.submitted_at') }} as date) as feedback_month,
        feedback.rating,
        score_groups.score_group
    from feedback
    left join score_groups on score_groups.score = feedback.rating
    where feedback.submitted_at is not null

),

monthly as (

    select
        feedback_month,
        count(*) as feedback_count,
        sum(case when rating between 1 and 5 then 1 else 0 end) as scored_count,
        sum(case when rating = 1 then 1 else 0 end) as score_1_count,
        sum(case when rating = 2 then 1 else 0 end) as score_2_count,
        sum(case when rating = 3 then 1 else 0 end) as score_3_count,
        sum(case when rating = 4 then 1 else 0 end) as score_4_count,
        sum(case when rating = 5 then 1 else 0 end) as score_5_count,
        avg(case when rating between 1 and 5 then rating end) as avg_score,
        sum(case when score_group = 'promoter' then 1 else 0 end) as promoters,
        sum(case when score_group = 'passive' then 1 else 0 end) as passives,
        sum(case when score_group = 'detractor' then 1 else 0 end) as detractors
    from scored
    group by feedback_month

),

scores as (

    select
        *,
        100.0 * (promoters - detractors) / nullif(promoters + passives + detractors, 0) as nps
    from monthly

),

final as (

    select
        -- keys
        feedback_month,

        -- distribution
        cast(feedback_count as {{ dbt.type_bigint() }}) as feedback_count,
        cast(scored_count as {{ dbt.type_bigint() }}) as scored_count,
        cast(score_1_count as {{ dbt.type_bigint() }}) as score_1_count,
        cast(score_2_count as {{ dbt.type_bigint() }}) as score_2_count,
        cast(score_3_count as {{ dbt.type_bigint() }}) as score_3_count,
        cast(score_4_count as {{ dbt.type_bigint() }}) as score_4_count,
        cast(score_5_count as {{ dbt.type_bigint() }}) as score_5_count,
        avg_score,

        -- NPS-style score
        cast(promoters as {{ dbt.type_bigint() }}) as promoters,
        cast(passives as {{ dbt.type_bigint() }}) as passives,
        cast(detractors as {{ dbt.type_bigint() }}) as detractors,
        nps,
        nps - lag(nps) over (order by feedback_month) as nps_change
    from scores

)

select * from final
