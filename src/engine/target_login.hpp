// How sunsync logs in to a configuration's target, the same for a run and
// for sunsync_verify: the URL unsealed, the URL rules and the timeouts of
// the settings.
#pragma once

#include "remote/connection.hpp"

#include <functional>
#include <string>

namespace sunsync::engine {

// The target URL of configuration `id` from its sealed form (password
// included: never put it in a message).
std::string unseal_target_url(const std::string &sealed, const std::string &id);

// trusted: the configuration was created by a superuser.
remote::ConnectOptions target_options(bool trusted, std::function<void()> check_stop);

} // namespace sunsync::engine
