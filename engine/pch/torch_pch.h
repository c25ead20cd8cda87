// Precompiled header shared by every torch-using target (see cmake/FocalScopeHelpers.cmake).
// Only ATen + the autograd/optim pieces we use: <torch/torch.h> would add seconds per TU.
#pragma once
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/generated/variable_factories.h>
#include <string>
#include <vector>
#include <map>
#include <memory>
#include <functional>
#include <stdexcept>
