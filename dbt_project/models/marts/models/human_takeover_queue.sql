-- One row per inbound WeCom message a person must take over (seed 2.4.3): after-sales
-- complaints and unsubscribe requests, due within the human-takeover SLA of the message (var
-- sla_reply_minutes, 120: engagement_daily's 2-hour SLA), with the first staff reply and status.
{%- set sla_minutes = var('sla_reply_minutes') %}

with

intents as (select * from {{ ref('inbound_message_intents') }}),
interactions as (select * from {{ ref('fct_interactions') }}),

takeovers as (

    select *
    from intents
    where intent in ('after_sales_complaint', 'unsubscribe_request')

),

staff_replies as (

    select
        person_id,
        occurred_at
    from interactions
    where
        channel = 'wecom_1v1'
        and direction = 'outbound'
        and scenario = 'service_reply'

),

-- how far the loaded interactions reach: a takeover due after it is still open, not overdue
data_watermark as (

    select max(occurred_at) as watermark_at
    from interactions

),

first_replies as (

    select
        takeovers.message_id,
        min(staff_replies.occurred_at) as first_reply_at
    from takeovers
    inner join staff_replies
        on
            staff_replies.person_id = takeovers.person_id
            and staff_replies.occurred_at >= takeovers.sent_at
    group by takeovers.message_id

),

final as (

    select
        -- ids
        takeovers.message_id,
        takeovers.interaction_id,
        takeovers.person_id,

        -- dimensions
        takeovers.intent,
        takeovers.channel,
        case
            when first_replies.first_reply_at <= {{ dbt.dateadd('minute', sla_minutes, 'takeovers.sent_at') }}
                then 'answered_in_time'
            when first_replies.first_reply_at is not null then 'answered_late'
            when {{ dbt.dateadd('minute', sla_minutes, 'takeovers.sent_at') }} <= data_watermark.watermark_at
                then 'overdue'
            else 'open'
        end as status,

        -- measures
        takeovers.confidence,

        -- timestamps
        takeovers.sent_at as message_at,
        {{ dbt.dateadd('minute', sla_minutes, 'takeovers.sent_at') }} as due_at,
        first_replies.first_reply_at
    from takeovers
    cross join data_watermark
    left join first_replies on first_replies.message_id = takeovers.message_id

)

select * from final
