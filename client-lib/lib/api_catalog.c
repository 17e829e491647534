/*
 * api_catalog.c -- the public calls for a creator's catalog (products), cancelling a drop and
 * browsing drops: check the arguments, build the op on the caller's stack with its principal
 * (the creator the write acts for), run it through the engine. Product and drop pages are page
 * ops (class PAGE).
 */
#include <stdio.h>
#include <string.h>

#include "client_int.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        ld_err try_err_ = (expr);                                                                  \
        if (try_err_ != LD_OK)                                                                     \
            return try_err_;                                                                       \
    } while (0)

/* The repeated fields of a product, pointing into the caller's spec. */
typedef struct product_wire {
    char *tags[LD_TAGS_MAX];
    Ldpb__Attribute attrs[LD_ATTRS_MAX];
    Ldpb__Attribute *attr_ptrs[LD_ATTRS_MAX];
} product_wire;

static void
product_wire_fill(product_wire *w, const ld_catalog_product_spec *s)
{
    LD_ASSERT(s->tags_count <= LD_TAGS_MAX);
    LD_ASSERT(s->attrs_count <= LD_ATTRS_MAX);
    for (uint32_t i = 0; i < s->tags_count; i++)
        w->tags[i] = (char *)s->tags[i];
    for (uint32_t i = 0; i < s->attrs_count; i++) {
        ldpb__attribute__init(&w->attrs[i]);
        w->attrs[i].key = (char *)s->attrs[i].key;
        w->attrs[i].value = (char *)s->attrs[i].value;
        w->attr_ptrs[i] = &w->attrs[i];
    }
}

LD_API ld_err
ld_product_create(ld_client *c, const ld_catalog_product_spec *spec, ld_catalog_product *out,
                  ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_PRODUCT, out, msg);
    TRY(ldi_check_product_spec(spec, false, msg));
    product_wire w;
    product_wire_fill(&w, spec);
    Ldpb__CreateProduct create = LDPB__CREATE_PRODUCT__INIT;
    create.id = ldi_id_pb(&spec->id);
    create.creator_id = ldi_id_pb(&spec->creator_id);
    create.title = (char *)spec->title;
    create.price_minor = spec->price_minor;
    create.currency = (char *)spec->currency;
    create.n_tags = spec->tags_count;
    create.tags = w.tags;
    create.n_attributes = spec->attrs_count;
    create.attributes = w.attr_ptrs;
    Ldpb__Op op = LDPB__OP__INIT;
    op.principal = ldi_id_pb(&spec->creator_id);
    op.body_case = LDPB__OP__BODY_CREATE_PRODUCT;
    op.create_product = &create;
    return ldi_run(c, &op, LDI_CLASS_FAST, LDI_OUT_PRODUCT, out, msg, ldi_client_deadline(c));
}

LD_API ld_err
ld_product_update(ld_client *c, const ld_catalog_product_spec *spec, ld_catalog_product *out,
                  ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_PRODUCT, out, msg);
    TRY(ldi_check_product_spec(spec, true, msg));
    product_wire w;
    product_wire_fill(&w, spec);
    Ldpb__UpdateProduct update = LDPB__UPDATE_PRODUCT__INIT;
    update.id = ldi_id_pb(&spec->id);
    update.title = (char *)spec->title;
    update.price_minor = spec->price_minor;
    update.currency = (char *)spec->currency;
    update.n_tags = spec->tags_count;
    update.tags = w.tags;
    update.n_attributes = spec->attrs_count;
    update.attributes = w.attr_ptrs;
    Ldpb__Op op = LDPB__OP__INIT;
    op.principal = ldi_id_pb(&spec->creator_id); /* the product's creator, checked by the node */
    op.body_case = LDPB__OP__BODY_UPDATE_PRODUCT;
    op.update_product = &update;
    return ldi_run(c, &op, LDI_CLASS_FAST, LDI_OUT_PRODUCT, out, msg, ldi_client_deadline(c));
}

LD_API ld_err
ld_product_get(ld_client *c, const ld_id *product_id, ld_catalog_product *out, ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_PRODUCT, out, msg);
    TRY(ldi_check_id(product_id, "get_product.product_id", msg));
    Ldpb__GetProduct get = LDPB__GET_PRODUCT__INIT;
    get.product_id = ldi_id_pb(product_id);
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_GET_PRODUCT;
    op.get_product = &get;
    return ldi_run(c, &op, LDI_CLASS_FAST, LDI_OUT_PRODUCT, out, msg, ldi_client_deadline(c));
}

LD_API ld_err
ld_products_list(ld_client *c, const ld_id *creator_id, uint32_t first, const char *after,
                 ld_product_page *out, ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_PRODUCT_PAGE, out, msg);
    TRY(ldi_check_id(creator_id, "list_products.creator_id", msg));
    TRY(ldi_check_page("list_products", first, LD_PAGE_DROPS_MAX, after, msg));
    Ldpb__ListProducts list = LDPB__LIST_PRODUCTS__INIT;
    list.creator_id = ldi_id_pb(creator_id);
    list.first = first;
    list.after = after != NULL ? (char *)after : "";
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_LIST_PRODUCTS;
    op.list_products = &list;
    return ldi_run(c, &op, LDI_CLASS_PAGE, LDI_OUT_PRODUCT_PAGE, out, msg, ldi_client_deadline(c));
}

LD_API ld_err
ld_drop_cancel(ld_client *c, const ld_id *creator_id, const ld_id *drop_id, ld_drop *out,
               ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_DROP, out, msg);
    TRY(ldi_check_id(creator_id, "cancel_drop.principal", msg));
    TRY(ldi_check_id(drop_id, "cancel_drop.drop_id", msg));
    Ldpb__CancelDrop cancel = LDPB__CANCEL_DROP__INIT;
    cancel.drop_id = ldi_id_pb(drop_id);
    Ldpb__Op op = LDPB__OP__INIT;
    op.principal = ldi_id_pb(creator_id);
    op.body_case = LDPB__OP__BODY_CANCEL_DROP;
    op.cancel_drop = &cancel;
    return ldi_run(c, &op, LDI_CLASS_FAST, LDI_OUT_DROP, out, msg, ldi_client_deadline(c));
}

LD_API ld_err
ld_drops_list(ld_client *c, const ld_drop_filter *filter, uint32_t first, const char *after,
              ld_drop_page *out, ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_DROP_PAGE, out, msg);
    TRY(ldi_check_drop_filter(filter, msg));
    TRY(ldi_check_page("list_drops", first, LD_PAGE_DROPS_MAX, after, msg));
    char *tags[LD_TAGS_MAX];
    for (uint32_t i = 0; i < filter->tags_count; i++)
        tags[i] = (char *)filter->tags[i];
    Ldpb__ListDrops list = LDPB__LIST_DROPS__INIT;
    list.status = (Ldpb__DropStatus)filter->status;
    if (!ld_id_is_zero(&filter->creator_id))
        list.creator_id = ldi_id_pb(&filter->creator_id);
    list.price_min_minor = filter->price_min_minor;
    list.price_max_set = filter->price_max_minor >= 0;
    list.price_max_minor = filter->price_max_minor >= 0 ? filter->price_max_minor : 0;
    list.n_tags = filter->tags_count;
    list.tags = tags;
    list.first = first;
    list.after = after != NULL ? (char *)after : "";
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_LIST_DROPS;
    op.list_drops = &list;
    return ldi_run(c, &op, LDI_CLASS_PAGE, LDI_OUT_DROP_PAGE, out, msg, ldi_client_deadline(c));
}
