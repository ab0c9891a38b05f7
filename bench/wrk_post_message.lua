-- wrk: POST the same JSON body as a question to the bare FastAPI app.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.body = '{"content": "How long do I have to return an item?"}'
