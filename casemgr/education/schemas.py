"""Education catalogue and delivery schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from casemgr.core.schema import SHORT, ApiSchema, Int, PageArgs, Text, id_field


class ModuleIn(ApiSchema):
    """POST /api/v1/education-modules (admin)."""

    title = Text(SHORT, required=True)
    topic = Text(SHORT, required=True)
    minutes = Int(required=True, validate=validate.Range(min=1, max=600))
    core = fields.Boolean(load_default=False, truthy={True}, falsy={False})


class ModuleUpdate(ApiSchema):
    """PATCH /api/v1/education-modules/{id} (admin): core flag, retirement, details."""

    topic = Text(SHORT)
    minutes = Int(validate=validate.Range(min=1, max=600))
    core = fields.Boolean(truthy={True}, falsy={False})
    active = fields.Boolean(truthy={True}, falsy={False})


class ModuleOut(Schema):
    """A catalogue module."""

    id = fields.Integer()
    title = fields.String()
    topic = fields.String()
    minutes = fields.Integer()
    core = fields.Boolean()
    active = fields.Boolean()


class ModuleListOut(Schema):
    """The list envelope."""

    items = fields.List(fields.Nested(ModuleOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class ModuleQuery(PageArgs):
    """GET /api/v1/education-modules: retired ones only on request."""

    include_retired = fields.Boolean(load_default=False)


class DeliveryIn(ApiSchema):
    """POST /api/v1/episodes/{id}/education."""

    module_id = id_field(required=True)
    delivered_on = fields.Date(required=True)


class DeliveryOut(Schema):
    """A delivery record."""

    id = fields.Integer()
    episode_id = fields.Integer()
    module_id = fields.Integer()
    module_title = fields.String(attribute="module.title")
    core = fields.Boolean(attribute="module.core")
    delivered_on = fields.Date()
    delivered_by_id = fields.Integer()


class DeliveryListOut(Schema):
    """The list envelope."""

    items = fields.List(fields.Nested(DeliveryOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
