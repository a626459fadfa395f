"""Request signatures against the worked examples in the providers' own documents."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

from notifications.channels.dingtalk import robot_sign, signed_url
from notifications.channels.sms_aliyun import percent_encode, sign, string_to_sign
from notifications.channels.sms_tencent import authorization, tc3_signature

# Aliyun "Signature mechanism" (RPC), the DescribeRegions example: AccessKeySecret testsecret.
ALIYUN_RPC_EXAMPLE = {
    "Timestamp": "2016-02-23T12:46:24Z", "Format": "XML", "AccessKeyId": "testid",
    "Action": "DescribeRegions", "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "Version": "2014-05-26",
    "SignatureVersion": "1.0",
}
# Aliyun SMS (dysmsapi) signature example: AccessKeySecret testSecret, a Chinese SignName.
ALIYUN_SMS_EXAMPLE = {
    "AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
    "PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0", "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}', "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}


def test_aliyun_rpc_signature_matches_the_documented_example():
    assert string_to_sign(ALIYUN_RPC_EXAMPLE, "GET") == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
        "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
        "%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z"
        "%26Version%3D2014-05-26")
    assert sign(ALIYUN_RPC_EXAMPLE, "testsecret", "GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_aliyun_sms_signature_matches_the_documented_example():
    assert sign(ALIYUN_SMS_EXAMPLE, "testSecret", "GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    # a Signature already in the parameters is not signed
    assert sign({**ALIYUN_SMS_EXAMPLE, "Signature": "x"}, "testSecret", "GET") == \
        "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_aliyun_percent_encoding_follows_the_rpc_rules():
    assert percent_encode("a b*c~d-_.") == "a%20b%2Ac~d-_."
    assert percent_encode("/=&+") == "%2F%3D%26%2B"
    assert percent_encode("派") == "%E6%B4%BE"


def test_tencent_tc3_signature_matches_the_documented_example():
    # Tencent Cloud "Signature v3": cvm DescribeInstances at 1551113065 (2019-02-25 UTC).
    payload = ('{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], '
               '"Name": "instance-name"}]}')
    assert hashlib.sha256(payload.encode()).hexdigest() == \
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    signature, scope = tc3_signature(
        secret_key="Gu5t9xGARNpq86cd98joQYCN3*******", service="cvm",
        host="cvm.tencentcloudapi.com", payload=payload, timestamp=1551113065)
    assert scope == "2019-02-25/cvm/tc3_request"
    assert signature == "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    assert authorization(secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
                         secret_key="Gu5t9xGARNpq86cd98joQYCN3*******", service="cvm",
                         host="cvm.tencentcloudapi.com", payload=payload,
                         timestamp=1551113065) == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/"
        "tc3_request, SignedHeaders=content-type;host, "
        "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c")


def test_dingtalk_robot_signature_follows_the_documented_recipe():
    # DingTalk publishes the recipe (HMAC-SHA256 over "timestamp\nsecret", Base64, URL
    # encoded) but no worked example with an output, so this checks the recipe itself.
    secret, timestamp = "SEC000example", 1577808000000
    expected = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert robot_sign(secret, timestamp) == expected
    url = signed_url("https://oapi.dingtalk.com/robot/send?access_token=t", secret, timestamp)
    query = parse_qs(urlsplit(url).query)
    assert query["timestamp"] == [str(timestamp)] and query["sign"] == [expected]
    assert signed_url("https://x/robot/send?access_token=t", None, timestamp) == \
        "https://x/robot/send?access_token=t"
