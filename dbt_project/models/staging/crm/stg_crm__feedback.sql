with

source as (

    select * from {{ source('crm', 'crm__feedback') }}

),

renamed as (

    select
        trim(feedback_id) as feedback_id,
        trim(member_id) as member_id,
        cast(rating as {{ dbt.type_int() }}) as rating,
        feedback_text,
        {{ local_ts('submitted_at') }} as submitted_at,
        _partition_date,
        _loaded_at,
        _row_number
    from source

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by feedback_id order by _partition_date desc, _row_number desc
        ) as delivery_rank
    from renamed

),

final as (

    select * from deduplicated
    where delivery_rank = 1

)

select * from final
