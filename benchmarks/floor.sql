-- The floor: the platform's core outputs from the landed files by one hand-written DuckDB script,
-- no orchestration, no raw/staging layers. benchmarks/floor.py runs it; the answers must equal the
-- platform's marts (benchmarks/agreement.py compares them).
--
-- Variables (SET VARIABLE by floor.py, read with getvariable; nothing is spliced into this text):
--   as_of              DATE       the as-of business day: day folders after it are not read,
--                                 RFM is scored for it, retention cells end at it
--   first_day          DATE       the first day folder read (the run's first partition)
--   junk_max_accounts  INTEGER    an attribute (phone, unionid) on more accounts is junk
--   hash_salt          VARCHAR    the platform's salt, so person keys (RFM tie-break) are the same
--   blocklist_csv, rfm_segments_csv, rfm_tiers_csv   the dbt seeds (one definition, not a copy)
--   f_<source>_<entity> VARCHAR[] the landed files of each extract (floor.py lists them by the
--                                 loader's file rules; GBK CSVs are given as UTF-8 copies).
--                                 CSVs are read by position, no sniffing (sniffing each of 365
--                                 files per extract cost ten times the reading): floor.py checks
--                                 that every header is the contract's, in its order
--
-- Output tables, named and shaped like the marts they stand for: dim_users, fct_orders,
-- fct_interactions, user_rfm (as_of only), retention_summary, and identity_map.

-- ---------------------------------------------------------------------------------------------
-- helpers: the loader's value rules (ingestion/entities.py, ingestion/reader.py)
-- ---------------------------------------------------------------------------------------------
create or replace temp macro clean(x) as nullif(trim(x), '');
create or replace temp macro day_of(path) as
    cast(regexp_extract(path, '(\d{4}-\d{2}-\d{2})[/\\][^/\\]*$', 1) as date);
create or replace temp macro local_ts(x) as
    try_strptime(trim(x), ['%Y-%m-%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y/%m/%d %H:%M:%S', '%Y-%m-%d %H:%M']);
-- a local time loads when it parses and lies before the end of the day after its folder's day
create or replace temp macro ts_ok(x, day) as
    clean(x) is null or coalesce(local_ts(x) < day + 2, false);
-- epoch seconds (scale 1) or milliseconds (1000): an integer in 2000..2100, same future rule
create or replace temp macro epoch_ok(x, day, scale) as
    clean(x) is null or coalesce(
        try_cast(trim(x) as double) % 1 = 0
        and try_cast(trim(x) as double) between 946684800.0 * scale and 4102444800.0 * scale
        and try_cast(trim(x) as double)
            < epoch(cast(day + 2 as timestamp) - interval 8 hour) * scale,
        false);
-- a finite number below 10^15 in magnitude; integers; money never negative
create or replace temp macro num_ok(x, is_int, non_negative) as
    clean(x) is null or coalesce(
        abs(try_cast(trim(x) as double)) < 1e15
        and (not is_int or try_cast(trim(x) as double) % 1 = 0)
        and (not non_negative or try_cast(trim(x) as double) >= 0),
        false);
create or replace temp macro in_list(x, known) as clean(x) is null or list_contains(known, trim(x));
-- epoch to naive business local time (Asia/Shanghai, UTC+8)
create or replace temp macro epoch_local(x, scale) as
    make_timestamp(cast(cast(trim(x) as double) * (1000000 // scale) as bigint)) + interval 8 hour;
create or replace temp macro digits(p) as regexp_replace(p, '[^0-9]', '', 'g');
create or replace temp macro norm_phone(p) as case
    when length(digits(p)) = 11 and digits(p) like '1%' then digits(p)
    when length(digits(p)) = 13 and digits(p) like '861%' then substr(digits(p), 3, 11)
    when length(digits(p)) = 15 and digits(p) like '00861%' then substr(digits(p), 5, 11)
end;
create or replace temp macro is_external_id(x) as x like 'wm%' or x like 'wo%';

-- ---------------------------------------------------------------------------------------------
-- the landed rows that load (quarantined rows left out), each with its day folder
-- ---------------------------------------------------------------------------------------------
create or replace temp table crm_members as
select
    clean("会员编号") as member_id,
    norm_phone("手机号") as phone,
    case trim("注册渠道")
        when '门店' then 'store' when '线上商城' then 'online_mall'
        when '小程序' then 'miniprogram' when '企业微信' then 'wecom' else 'other'
    end as registration_channel,
    local_ts("注册时间") as registered_at,
    coalesce(local_ts("更新时间"), local_ts("注册时间")) as updated_at,
    day_of(filename) as day,
    filename
from read_csv(getvariable('f_crm_members'), header = true, auto_detect = false,
              filename = true, delim = ',', quote = '"', escape = '"',
              columns = {'会员编号': 'varchar', '姓名': 'varchar', '手机号': 'varchar', '注册时间': 'varchar', '注册渠道': 'varchar', '会员等级': 'varchar', '生日': 'varchar', '城市': 'varchar', '营销授权': 'varchar', '退订时间': 'varchar', '更新时间': 'varchar'})
where clean("会员编号") is not null
    and local_ts("注册时间") is not null and ts_ok("注册时间", day_of(filename))
    and ts_ok("退订时间", day_of(filename)) and ts_ok("更新时间", day_of(filename))
    and in_list("注册渠道", ['门店', '线上商城', '小程序', '企业微信'])
    and in_list("营销授权", ['是', '否'])
-- a member is delivered again whenever it changes: the latest version
qualify row_number() over (
    partition by member_id order by updated_at desc, day desc, filename desc) = 1;

create or replace temp table crm_orders as
select
    'crm:' || clean("订单号") as order_id,
    'member_id' as id_type,
    clean("会员编号") as id_value,
    case when "门店" like '%线上%' then 'online_mall' else 'store' end as channel,
    local_ts("下单时间") as ordered_at,
    cast(round(cast(trim("订单金额") as decimal(38, 6)), 2) as decimal(18, 2)) as amount,
    case trim("订单状态") when '已完成' then 'completed' when '已退款' then 'refunded'
        when '已取消' then 'cancelled' when '待付款' then 'pending' end as status,
    day_of(filename) as day,
    filename
from read_csv(getvariable('f_crm_orders'), header = true, auto_detect = false,
              filename = true, delim = ',', quote = '"', escape = '"',
              columns = {'订单号': 'varchar', '会员编号': 'varchar', '下单时间': 'varchar', '订单金额': 'varchar', '优惠金额': 'varchar', '是否用券': 'varchar', '订单状态': 'varchar', '门店': 'varchar'})
where clean("订单号") is not null and clean("会员编号") is not null
    and local_ts("下单时间") is not null and ts_ok("下单时间", day_of(filename))
    and clean("订单金额") is not null and num_ok("订单金额", false, true)
    and num_ok("优惠金额", false, true)
    and in_list("是否用券", ['是', '否'])
    and clean("订单状态") is not null and in_list("订单状态", ['已完成', '已退款', '已取消', '待付款']);

create or replace temp table crm_activity as
-- points, feedback and SMS sends only matter here as the member ids they show and when
select 'points' as kind, clean("会员编号") as member_id, local_ts("变动时间") as seen_at,
       clean("流水号") as key, null::varchar as scenario, null::boolean as delivered,
       day_of(filename) as day, filename
from read_csv(getvariable('f_crm_points'), header = true, auto_detect = false,
              filename = true, delim = ',', quote = '"', escape = '"',
              columns = {'流水号': 'varchar', '会员编号': 'varchar', '变动时间': 'varchar', '变动积分': 'varchar', '变动原因': 'varchar'})
where clean("流水号") is not null and clean("会员编号") is not null
    and local_ts("变动时间") is not null and ts_ok("变动时间", day_of(filename))
    and clean("变动积分") is not null and num_ok("变动积分", true, false)
union all
select 'feedback', clean("会员编号"), local_ts("反馈时间"), clean("反馈编号"), null, null,
       day_of(filename), filename
from read_csv(getvariable('f_crm_feedback'), header = true, auto_detect = false,
              filename = true, delim = ',', quote = '"', escape = '"',
              columns = {'反馈编号': 'varchar', '会员编号': 'varchar', '反馈时间': 'varchar', '评分': 'varchar', '反馈内容': 'varchar'})
where clean("反馈编号") is not null and clean("会员编号") is not null
    and local_ts("反馈时间") is not null and ts_ok("反馈时间", day_of(filename))
    and num_ok("评分", true, false)
union all
select 'sms', clean("会员编号"), local_ts("发送时间"), trim("活动编号"), "场景",
       coalesce(trim("发送状态") = '成功', false), day_of(filename), filename
from read_csv(getvariable('f_crm_sms_sends'), header = true, auto_detect = false,
              filename = true, delim = ',', quote = '"', escape = '"',
              columns = {'活动编号': 'varchar', '会员编号': 'varchar', '发送时间': 'varchar', '场景': 'varchar', '内容类型': 'varchar', '实验编号': 'varchar', '实验分组': 'varchar', '发送状态': 'varchar'})
where clean("活动编号") is not null and clean("会员编号") is not null
    and local_ts("发送时间") is not null and ts_ok("发送时间", day_of(filename))
    and in_list("发送状态", ['成功', '失败']);

-- one row per entry / feedback / (campaign, member) send: the latest delivery
create or replace temp table crm_activity_latest as
select * from crm_activity
qualify row_number() over (
    partition by kind, key, case when kind = 'sms' then member_id end
    order by day desc, filename desc) = 1;

create or replace temp table wecom_contacts as
-- one raw row per follow_user (a contact without one is still a row)
select
    clean(external_contact.external_userid) as external_userid,
    clean(external_contact.unionid) as unionid,
    trim(fu.userid) as staff_userid,
    norm_phone(fu.remark_mobiles[1]) as remark_phone,
    epoch_local(fu.createtime, 1) as added_at,
    day,
    filename
from (
    select external_contact, unnest(coalesce(nullif(follow_user, []), [null])) as fu,
           day_of(filename) as day, filename
    from read_json(getvariable('f_wecom_external_contacts'), format = 'newline_delimited',
                   filename = true, ignore_errors = true, columns = {
                       external_contact: 'struct(external_userid varchar, unionid varchar)',
                       follow_user: 'struct(userid varchar, createtime varchar, remark_mobiles varchar[])[]'})
)
where clean(external_contact.external_userid) is not null and epoch_ok(fu.createtime, day, 1)
qualify row_number() over (
    partition by external_userid, staff_userid order by day desc, filename desc) = 1;

create or replace temp table wecom_group_members as
select
    trim(userid) as external_userid,
    clean(unionid) as unionid,
    epoch_local(join_time, 1) as joined_at
from read_json(getvariable('f_wecom_group_members'), format = 'newline_delimited',
               filename = true, ignore_errors = true, columns = {
                   chat_id: 'varchar', userid: 'varchar', type: 'varchar', unionid: 'varchar',
                   join_time: 'varchar'})
where clean(chat_id) is not null and clean(userid) is not null
    and clean(type) is not null and num_ok(type, true, false)
    and clean(join_time) is not null and epoch_ok(join_time, day_of(filename), 1)
qualify row_number() over (
    partition by trim(chat_id), trim(userid) order by day_of(filename) desc, filename desc) = 1
    -- only external contacts are persons (type 2); staff rows are dropped after the dedup
    and try_cast(trim(type) as double) = 2;

create or replace temp table wecom_messages as
select
    trim("from") as from_userid,
    trim(tolist[1]) as first_recipient,
    clean(roomid) as room_id,
    is_external_id(trim("from")) as is_inbound,
    epoch_local(msgtime, 1000) as sent_at
from read_json(getvariable('f_wecom_messages'), format = 'newline_delimited',
               filename = true, ignore_errors = true, columns = {
                   msgid: 'varchar', action: 'varchar', "from": 'varchar', tolist: 'varchar[]',
                   roomid: 'varchar', msgtime: 'varchar'})
where clean(msgid) is not null and clean("from") is not null
    and clean(msgtime) is not null and epoch_ok(msgtime, day_of(filename), 1000)
    and coalesce(action, 'send') = 'send'
qualify row_number() over (
    partition by trim(msgid) order by day_of(filename) desc, filename desc) = 1;

create or replace temp table wecom_campaign_sends as
select
    trim(campaign_id) as campaign_id,
    trim(external_userid) as external_userid,
    case when chat_type = 'group' then 'wecom_group' else 'wecom_1v1' end as channel,
    scenario,
    coalesce(status = 'sent', false) as delivered,
    epoch_local(sent_at, 1) as sent_at
from read_json(getvariable('f_wecom_campaign_sends'), format = 'newline_delimited',
               filename = true, ignore_errors = true, columns = {
                   campaign_id: 'varchar', external_userid: 'varchar', chat_type: 'varchar',
                   sent_at: 'varchar', scenario: 'varchar', status: 'varchar'})
where clean(campaign_id) is not null and clean(external_userid) is not null
    and clean(sent_at) is not null and epoch_ok(sent_at, day_of(filename), 1)
    and in_list(chat_type, ['single', 'group']) and in_list(status, ['sent', 'failed'])
qualify row_number() over (
    partition by trim(campaign_id), trim(external_userid)
    order by day_of(filename) desc, filename desc) = 1;

create or replace temp table mp_users as
select
    trim(openid) as openid,
    clean(unionid) as unionid,
    norm_phone(phone_number) as phone,
    epoch_local(registered_at, 1000) as registered_at
from read_json(getvariable('f_miniprogram_users'), format = 'newline_delimited',
               filename = true, ignore_errors = true, columns = {
                   openid: 'varchar', unionid: 'varchar', phone_number: 'varchar',
                   registered_at: 'varchar', consent_marketing: 'varchar',
                   unsubscribed_at: 'varchar', updated_at: 'varchar'})
where clean(openid) is not null
    and clean(registered_at) is not null and epoch_ok(registered_at, day_of(filename), 1000)
    and epoch_ok(unsubscribed_at, day_of(filename), 1000)
    and epoch_ok(updated_at, day_of(filename), 1000)
    and in_list(lower(consent_marketing), ['true', 'false', '1', '0'])
qualify row_number() over (
    partition by trim(openid)
    order by coalesce(epoch_local(updated_at, 1000), epoch_local(registered_at, 1000)) desc,
        day_of(filename) desc, filename desc) = 1;

create or replace temp table mp_events as
select
    trim(openid) as openid,
    event_name,
    epoch_local(event_time, 1000) as event_at
from read_json(getvariable('f_miniprogram_events'), format = 'newline_delimited',
               filename = true, ignore_errors = true, columns = {
                   event_id: 'varchar', openid: 'varchar', event_name: 'varchar',
                   event_time: 'varchar', properties: 'struct(discount_cny varchar)'})
where clean(event_id) is not null and clean(openid) is not null and clean(event_name) is not null
    and clean(event_time) is not null and epoch_ok(event_time, day_of(filename), 1000)
    and num_ok(properties.discount_cny, false, true)
qualify row_number() over (
    partition by trim(event_id) order by day_of(filename) desc, filename desc) = 1;

create or replace temp table mp_orders as
select
    'mp:' || trim(order_id) as order_id,
    'openid' as id_type,
    trim(openid) as id_value,
    'miniprogram' as channel,
    epoch_local(created_at, 1000) as ordered_at,
    cast(cast(trim(total_fee) as double) as decimal(18, 0)) * 0.01 as amount,  -- fen, exact
    case status when 'paid' then 'completed' else status end as status,
    day_of(filename) as day,
    filename
from read_json(getvariable('f_miniprogram_orders'), format = 'newline_delimited',
               filename = true, ignore_errors = true, columns = {
                   order_id: 'varchar', openid: 'varchar', created_at: 'varchar',
                   total_fee: 'varchar', discount_fee: 'varchar', status: 'varchar'})
where clean(order_id) is not null and clean(openid) is not null
    and clean(created_at) is not null and epoch_ok(created_at, day_of(filename), 1000)
    and clean(total_fee) is not null and num_ok(total_fee, true, true)
    and num_ok(discount_fee, true, true)
    and clean(status) is not null and in_list(status, ['paid', 'refunded', 'cancelled', 'pending']);

-- orders: the latest delivery of each order id; a cancelled or pending order is no order unless
-- some delivery of it was paid (then it stays, refunded)
create or replace temp table orders as
select
    order_id, id_type, id_value, channel, ordered_at, cast(amount as decimal(18, 2)) as amount,
    status <> 'completed' as is_refunded
from (
    select
        *,
        bool_or(status in ('completed', 'refunded')) over (partition by order_id) as was_paid
    from (select * from crm_orders union all select * from mp_orders)
    qualify row_number() over (partition by order_id order by day desc, filename desc) = 1
)
where not (status in ('cancelled', 'pending') and not was_paid);

-- ---------------------------------------------------------------------------------------------
-- identity: every identifier seen, junk attributes out, accounts linked by shared attributes,
-- persons = connected components, keyed by the salted hash of the first-seen identifier
-- ---------------------------------------------------------------------------------------------
create or replace temp table observations as
-- (id_type, id_value, seen_at, channel, is_registration, source_rank 1 crm 2 mini-program 3 wecom)
select 'member_id' as id_type, member_id as id_value, registered_at as seen_at,
       registration_channel as channel, true as is_registration, 1 as source_rank
from crm_members
union all select 'phone', phone, registered_at, registration_channel, true, 1
from crm_members where phone is not null
union all select 'member_id', id_value, ordered_at, 'crm', false, 1
from orders where id_type = 'member_id'
union all select 'member_id', member_id, seen_at, 'crm', false, 1 from crm_activity_latest
union all select 'external_userid', external_userid, added_at, 'wecom', true, 3 from wecom_contacts
union all select 'unionid', unionid, added_at, 'wecom', true, 3
from wecom_contacts where unionid is not null
union all select 'phone', remark_phone, added_at, 'wecom', true, 3
from wecom_contacts where remark_phone is not null
union all select 'external_userid', external_userid, joined_at, 'wecom', true, 3
from wecom_group_members
union all select 'unionid', unionid, joined_at, 'wecom', true, 3
from wecom_group_members where unionid is not null
union all select 'external_userid', from_userid, sent_at, 'wecom', false, 3
from wecom_messages where is_inbound
union all select 'external_userid', first_recipient, sent_at, 'wecom', false, 3
from wecom_messages
where not is_inbound and room_id is null and is_external_id(first_recipient)
union all select 'external_userid', external_userid, sent_at, 'wecom', false, 3
from wecom_campaign_sends
union all select 'openid', openid, registered_at, 'miniprogram', true, 2 from mp_users
union all select 'unionid', unionid, registered_at, 'miniprogram', true, 2
from mp_users where unionid is not null
union all select 'phone', phone, registered_at, 'miniprogram', true, 2
from mp_users where phone is not null
union all select 'openid', openid, event_at, 'miniprogram', false, 2 from mp_events
union all select 'openid', id_value, ordered_at, 'miniprogram', false, 2
from orders where id_type = 'openid';

-- each identifier's first sighting (a registration wins a tie, then CRM, mini-program, WeCom)
create or replace temp table identifiers as
select
    id_type, id_value, id_type || ':' || id_value as node, seen_at as first_seen_at,
    channel as first_channel
from observations
where id_value is not null and id_value <> ''
qualify row_number() over (
    partition by id_type, id_value
    order by seen_at, is_registration desc, source_rank, channel) = 1;

create or replace temp table links as
select distinct account, attribute, attribute_type || ':' || attribute as attribute_node
from (
    select 'member_id:' || member_id as account, 'phone' as attribute_type, phone as attribute
    from crm_members
    union all select 'external_userid:' || external_userid, 'unionid', unionid from wecom_contacts
    union all select 'external_userid:' || external_userid, 'phone', remark_phone from wecom_contacts
    union all select 'external_userid:' || external_userid, 'unionid', unionid
    from wecom_group_members
    union all select 'openid:' || openid, 'unionid', unionid from mp_users
    union all select 'openid:' || openid, 'phone', phone from mp_users
)
where account is not null and attribute is not null and attribute <> '';

create or replace temp table junk as
select id_type || ':' || id_value as node
from read_csv(getvariable('blocklist_csv'), header = true, all_varchar = true)
union
select attribute_node from links
group by attribute_node
having count(distinct account) > getvariable('junk_max_accounts');

create or replace temp table nodes as
select row_number() over (order by node) as n, node
from identifiers
where node not in (select node from junk);

create or replace temp table adjacency as
with edges as (
    select a.n as x, b.n as y
    from links
    join nodes as a on a.node = links.account
    join nodes as b on b.node = links.attribute_node
)
select x, y from edges union all select y, x from edges;

-- min-label propagation; USING KEY keeps one label per node and revisits only changed nodes
create or replace temp table components as
with recursive cc(n, label) using key (n) as (
    select n, n from nodes
    union
    select adjacency.y, min(cc.label)
    from cc
    join adjacency on adjacency.x = cc.n
    join recurring.cc as current on current.n = adjacency.y
    group by adjacency.y, current.label
    having min(cc.label) < current.label
)
select nodes.node, cc.label from cc join nodes using (n);

create or replace table identity_map as
with persons as (
    select
        label,
        'p_' || substr(md5(getvariable('hash_salt') || '|'
            || arg_min(identifiers.node, (identifiers.first_seen_at, identifiers.id_type, identifiers.id_value))),
            1, 16) as person_id
    from components join identifiers using (node)
    group by label
)
select
    identifiers.id_type, identifiers.id_value, persons.person_id, identifiers.first_seen_at,
    identifiers.first_channel, junk.node is not null as is_junk
from identifiers
left join components using (node)
left join persons using (label)
left join junk using (node);

-- ---------------------------------------------------------------------------------------------
-- dim_users: first seen, and the first channel (a registration wins a tie at the same instant,
-- then CRM, the mini-program, WeCom, then the lowest identifier)
-- ---------------------------------------------------------------------------------------------
create or replace table dim_users as
with resolved as (select * from identity_map where person_id is not null),
registrations as (
    select 'member_id' as id_type, member_id as id_value, registered_at as appeared_at,
           registration_channel as channel, 1 as source_rank
    from crm_members
    union all select 'openid', openid, registered_at, 'miniprogram', 2 from mp_users
    union all select 'external_userid', external_userid, added_at, 'wecom', 3 from wecom_contacts
    union all select 'external_userid', external_userid, joined_at, 'wecom', 3
    from wecom_group_members
),
appearances as (
    select person_id, first_seen_at as appeared_at, first_channel as channel,
           false as is_registration, 9 as source_rank, id_type, id_value
    from resolved
    union all
    select resolved.person_id, registrations.appeared_at, registrations.channel, true,
           registrations.source_rank, registrations.id_type, registrations.id_value
    from registrations join resolved using (id_type, id_value)
    where registrations.appeared_at is not null
)
select
    person_id,
    arg_min(channel, (appeared_at, not is_registration, source_rank, id_type, id_value, channel))
        as first_channel,
    min(appeared_at) as first_seen_at,
    cast(min(appeared_at) as date) as first_seen_date
from appearances
group by person_id;

-- ---------------------------------------------------------------------------------------------
-- fct_orders and fct_interactions, keyed to persons
-- ---------------------------------------------------------------------------------------------
create or replace table fct_orders as
select
    orders.order_id, identity_map.person_id, orders.channel, orders.amount, orders.is_refunded,
    orders.ordered_at, cast(orders.ordered_at as date) as ordered_date
from orders
left join identity_map using (id_type, id_value);

create or replace table fct_interactions as
with unioned as (
    select 'external_userid' as id_type,
           case when is_inbound then from_userid else first_recipient end as id_value,
           sent_at as occurred_at,
           case when room_id is null then 'wecom_1v1' else 'wecom_group' end as channel,
           case when is_inbound then 'inbound' else 'outbound' end as direction,
           case when is_inbound and room_id is null then 'chat'
                when is_inbound then 'group_chat' else 'service_reply' end as scenario
    from wecom_messages where is_inbound or room_id is null
    union all
    select 'external_userid', external_userid, sent_at, channel, 'outbound', scenario
    from wecom_campaign_sends where delivered
    union all
    select 'member_id', member_id, seen_at, 'sms', 'outbound', scenario
    from crm_activity_latest where kind = 'sms' and delivered
    union all
    select 'openid', openid, event_at, 'miniprogram', 'inbound', event_name from mp_events
)
select identity_map.person_id, unioned.occurred_at, cast(unioned.occurred_at as date) as occurred_date,
       unioned.channel, unioned.direction, unioned.scenario
from unioned
join identity_map using (id_type, id_value)
where identity_map.person_id is not null;

-- ---------------------------------------------------------------------------------------------
-- measurement: the data's date range, RFM on the as-of day, retention summary
-- ---------------------------------------------------------------------------------------------
create or replace temp table bounds as
-- the calendar of the marts: first to last day with an order or an interaction
select
    min(d) as data_start,
    max(d) as data_end,
    -- retention cells and RFM snapshots exist only for days of the run: first_day .. as_of
    least(max(d), getvariable('as_of')) as cells_end,
    getvariable('first_day') as run_start
from (select ordered_date as d from fct_orders union select occurred_date from fct_interactions);

create or replace temp table purchase_days as
select person_id, ordered_date as purchase_date, count(*) as orders,
       cast(sum(amount) as decimal(18, 2)) as amount
from fct_orders
where not is_refunded and person_id is not null
group by all;

create or replace table user_rfm as
with buyers as (
    select
        person_id,
        getvariable('as_of') as as_of_date,
        getvariable('as_of') - max(purchase_date) as recency_days,
        count(*) as frequency,
        cast(sum(orders) as bigint) as orders,
        cast(sum(amount) as decimal(18, 2)) as monetary
    from purchase_days
    where purchase_date <= getvariable('as_of')
        -- a snapshot exists only for a day of the loaded range
        and getvariable('as_of') between (select data_start from bounds) and (select cells_end from bounds)
    group by person_id
),
scored as (
    select
        *,
        ntile(5) over (order by recency_days desc, person_id) as r_score,
        ntile(5) over (order by frequency, person_id) as f_score,
        ntile(5) over (order by monetary, person_id) as m_score,
        ntile(3) over (order by recency_days desc, person_id) as r3_score,
        ntile(3) over (order by monetary, person_id) as m3_score
    from buyers
)
select
    scored.*,
    coalesce(tiers.rfm_tier, 'other') as rfm_tier,
    segments.rfm_segment
from scored
left join read_csv(getvariable('rfm_tiers_csv'), header = true, all_varchar = true) as tiers
    on cast(tiers.r3_score as integer) = scored.r3_score and cast(tiers.m3_score as integer) = scored.m3_score
left join read_csv(getvariable('rfm_segments_csv'), header = true, all_varchar = true) as segments
    on cast(segments.r_score as integer) = scored.r_score and cast(segments.f_score as integer) = scored.f_score;

create or replace table retention_summary as
with members as (
    select person_id, first_seen_date, first_channel as cohort_channel,
           cast(date_trunc('week', first_seen_date) as date) as cohort_week
    from dim_users, bounds
    where first_seen_date >= data_start
),
active as (
    select distinct person_id, ordered_date as activity_date from fct_orders where person_id is not null
    union
    select person_id, occurred_date from fct_interactions where direction = 'inbound'
),
-- a person of cohort day c counts for day n (1, 7, 30) once c + n is a day of the run
cells as (
    select members.*, day_n.n,
           exists (
               select 1 from active
               where active.person_id = members.person_id
                   and active.activity_date = members.first_seen_date + day_n.n
           ) as retained
    from members, bounds, (values (1), (7), (30)) as day_n(n)
    where members.first_seen_date + day_n.n <= bounds.cells_end
        and members.first_seen_date + day_n.n >= bounds.run_start
),
retention as (
    select cohort_week, cohort_channel,
        -- no cell old enough for day n: null (the platform sums no rows)
        nullif(count(*) filter (where n = 1), 0) as d1_cohort_users,
        case when d1_cohort_users > 0 then count(*) filter (where n = 1 and retained) end
            as d1_retained_users,
        nullif(count(*) filter (where n = 7), 0) as d7_cohort_users,
        case when d7_cohort_users > 0 then count(*) filter (where n = 7 and retained) end
            as d7_retained_users,
        nullif(count(*) filter (where n = 30), 0) as d30_cohort_users,
        case when d30_cohort_users > 0 then count(*) filter (where n = 30 and retained) end
            as d30_retained_users
    from cells
    group by all
),
buyers as (
    select person_id, min(purchase_date) as first_purchase_date,
           -- the second purchase day (a second order on the first day is no repurchase)
           list_sort(list(purchase_date))[2] as second_purchase_date
    from purchase_days group by person_id
),
repurchase as (
    select cohort_week, cohort_channel,
        count(*) as first_time_buyers_30d,
        count(*) filter (where second_purchase_date <= first_purchase_date + 30) as repurchasers_30d
    from members join buyers using (person_id), bounds
    where first_purchase_date + 30 <= data_end
    group by all
)
select
    *,
    1.0 * d1_retained_users / d1_cohort_users as d1,
    1.0 * d7_retained_users / d7_cohort_users as d7,
    1.0 * d30_retained_users / d30_cohort_users as d30,
    1.0 * repurchasers_30d / nullif(first_time_buyers_30d, 0) as repurchase_rate_30d
from (
select
    cohort_week, cohort_channel, count(*) as cohort_users,
    any_value(d1_cohort_users) as d1_cohort_users, any_value(d1_retained_users) as d1_retained_users,
    any_value(d7_cohort_users) as d7_cohort_users, any_value(d7_retained_users) as d7_retained_users,
    any_value(d30_cohort_users) as d30_cohort_users, any_value(d30_retained_users) as d30_retained_users,
    coalesce(any_value(first_time_buyers_30d), 0) as first_time_buyers_30d,
    coalesce(any_value(repurchasers_30d), 0) as repurchasers_30d
from members
left join retention using (cohort_week, cohort_channel)
left join repurchase using (cohort_week, cohort_channel)
group by cohort_week, cohort_channel
);
